"""Choosing a step runtime: ``engine: auto | numpy | numpy-streaming | tensorflow``.

``auto`` is NumPy unless a CUDA device node exists and is not hidden; only then is
TensorFlow imported, and used if it lists a GPU. So a machine without a GPU never
imports TensorFlow at start.
"""

from __future__ import annotations

import glob
import logging
import os

from liveplay.config import ModelSettings
from liveplay.model.bundle import Bundle
from liveplay.model.engine import Engine
from liveplay.model.harmony import HarmonyEngine
from liveplay.model.inkey import KeyKeeper
from liveplay.model.longterm import FILE as LONG_TERM_FILE
from liveplay.model.longterm import CorpusTables, LongTermEngine
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.model.shortterm import ShortTermEngine
from liveplay.music.tokens import Vocabulary, chord_targets

log = logging.getLogger(__name__)


def gpu_possible() -> bool:
    """Cheap test, without importing TensorFlow: could a CUDA GPU be visible at all?"""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/dxg"))


def choose_runtime(requested: str) -> str:
    """``auto`` -> 'tensorflow' when TensorFlow sees a GPU, else 'numpy' (TF not imported then)."""
    if requested != "auto":
        return requested
    if not gpu_possible():
        return "numpy"
    try:
        import tensorflow as tf
    except ImportError:
        return "numpy"
    return "tensorflow" if tf.config.list_physical_devices("GPU") else "numpy"


def make_engine(bundle: Bundle, runtime: str = "auto", threads: int = 1, short_term: float = 0.0,
                harmony: float = 0.0, long_term: float = 0.0, long_term_gate: bool = True) -> Engine:
    """The runtime asked for; ``threads`` = CPU threads of a NumPy exact step (capped at the cores);
    ``long_term`` > 0 mixes in the corpus's counts (``model.longterm``, from the bundle's
    longterm.npz when it has one; with ``long_term_gate`` the share its gate gives at each step,
    when the file has one), ``short_term`` > 0 then the context's match model
    (``model.shortterm``), neither for a duet model, whose context interleaves two parts;
    ``harmony`` > 0 bends a duet model's chords toward the melody it accompanies (``model.harmony``;
    only for a duet model)."""
    chosen = choose_runtime(runtime)
    if chosen == "numpy":
        engine: Engine = NumpyEngine(bundle, threads=min(threads, os.cpu_count() or 1))
    elif chosen == "numpy-streaming":
        engine = NumpyEngine(bundle, streaming=True)
    elif chosen == "tensorflow":
        from liveplay.model.tf_engine import TensorflowEngine

        engine = TensorflowEngine(bundle)
    else:
        raise ValueError(f"unknown engine {runtime!r}")
    if long_term > 0 and bundle.manifest.kind != "duet":
        if (bundle.path / LONG_TERM_FILE).exists():
            tables = CorpusTables.load(bundle.path / LONG_TERM_FILE, len(bundle.vocab))
            gate = tables.gate if long_term_gate else None
            engine = LongTermEngine(engine, tables, long_term, gate,
                                    None if gate is None else chord_targets(bundle.vocab))
        else:
            log.info("%s has no %s: the model without the corpus's counts (`liveplay longterm` counts them)",
                     bundle.path, LONG_TERM_FILE)
    if short_term > 0 and bundle.manifest.kind != "duet":
        engine = ShortTermEngine(engine, short_term)
    if harmony > 0 and bundle.manifest.kind == "duet":
        engine = HarmonyEngine(engine, bundle.vocab, harmony)
    log.info("engine: %s%s (asked for %s)", engine.name,
             f", {engine.threads} threads" if getattr(engine, "threads", 1) > 1 else "", runtime)
    return engine


def engine_for(bundle: Bundle, model: ModelSettings, runtime: str = "auto", threads: int = 1,
               **override) -> Engine:
    """``make_engine`` with the mixes ``model`` sets for a single-stream model
    (``model.short_term``, ``long_term``, ``long_term_gate``), any of them replaced, and any other
    of its keywords (``harmony``) given, by ``override``."""
    mixes = {"short_term": model.short_term, "long_term": model.long_term,
             "long_term_gate": model.long_term_gate}
    return make_engine(bundle, runtime, threads, **(mixes | override))


def keeper_for(bundle: Bundle, vocab: Vocabulary, engine: Engine, weight: float) -> KeyKeeper | None:
    """The answer's key keeper (``model.key_keeping`` = ``weight``) for ``engine``'s ids
    (``vocab``: the bundle's, or a key frame's play vocabulary), listening over the model's
    window; None when the weight is 0, and for a duet model (its ear is ``model.harmony``)."""
    if weight <= 0 or bundle.manifest.kind == "duet":
        return None
    return KeyKeeper(vocab, weight, engine.context_length, engine.vocab_size)
