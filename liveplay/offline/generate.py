"""Offline generation: a context from a prime (or silence), sampled step by step, written as MIDI."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from liveplay.model.bundle import Bundle
from liveplay.model.engine import Engine
from liveplay.model.inkey import KeyKeeper
from liveplay.music.context import Context
from liveplay.music.midifile import write_tokens
from liveplay.music.sampler import Sampler
from liveplay.music.tokens import RawToken, Vocabulary

log = logging.getLogger(__name__)


@dataclass
class Generation:
    ids: list[int]  # the continuation, without the prime
    tokens: list[RawToken]
    min_temperature: float
    max_temperature: float


def continue_ids(engine: Engine, sampler: Sampler, prime: Sequence[int], steps: int,
                 keeper: KeyKeeper | None = None) -> tuple[list[int], float, float]:
    """Sample ``steps`` ids after ``prime`` (a fresh context: REST, then the prime, the player's);
    ``keeper``: each answer bent toward the prime's key as the daemon's is (``model.inkey``)."""
    context = Context(engine, prime)
    out: list[int] = []
    lo = hi = sampler.temperature
    for _ in range(steps):
        probs = context.distribution()
        token = sampler.sample(probs if keeper is None else keeper.answer(probs, context), context.ids)
        lo, hi = min(lo, sampler.temperature), max(hi, sampler.temperature)
        context.push(token)
        out.append(token)
    return out, lo, hi


def generate(bundle: Bundle, engine: Engine, sampler: Sampler, steps: int,
             prime: Sequence[int] = (), vocab: Vocabulary | None = None,
             keeper: KeyKeeper | None = None) -> Generation:
    """``vocab``: the ids' vocabulary when it is not the model's (a key frame's play vocabulary)."""
    ids, lo, hi = continue_ids(engine, sampler, prime, steps, keeper)
    return Generation(ids, (vocab or bundle.vocab).decode(ids), lo, hi)


def write_generation(gen: Generation, bundle: Bundle, out: str | Path, tempo_bpm: float) -> Path:
    return write_tokens(gen.tokens, out, bundle.grid.steps_per_beat, tempo_bpm)
