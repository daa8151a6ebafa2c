"""Per-step latency of the engine runtimes against the seed recipe's Keras ``predict``, side by side.

For each model size (random weights; the cost does not depend on their values):

  (a) baseline: Keras ``model.predict`` on the full 128-token window (the seed recipe)
  (b) Keras model called directly on the window, compiled once (``tf.function``);
      (b0) the same call eager: about 1.5 s a step for 3x256 here, so it runs --eager-steps only
  (c) NumPy exact (staggered states) on --threads threads, as the daemon runs it (engine_threads);
      (c1) the same on one thread. On a real bundle (--bundle), (c) is also timed as the daemon
      steps: prepare() on its own once the decision is made, then push + distribution once the
      musician's token is known (what the step waits for). A duet bundle's key frame is given a
      spare engine (the re-hearing, as the daemon plays it): its catch-up after a move of the
      frame is in prepare()'s time; the reset it spreads over steps is timed on its own. With
      ``model.key_keeping`` > 0 (config.yaml) the one-thread path is also timed with the answer's
      key keeping after the distribution, as the daemon decides (``model.inkey``; every step the
      player's, so its factors are computed afresh at every step: the worst case)
  (d) NumPy streaming (one carried state)
  (e) TensorFlow runtime (the GPU runtime; here on whatever device TensorFlow sees)

BLAS runs one thread per call, as in the daemon (the NumPy engine limits it around its own calls).

Each row: p50 / p99 per step (ms) and the ratio of (a)'s p50 to its p50, all in one
run. Then the daemon path's start-up (a fresh process: import, load bundle, first
distribution) and peak RSS with and without TensorFlow, and the streaming mode's
deviation from the exact window.

    python benchmarks/engine.py [--steps 2000] [--baseline-steps 2000] [--eager-steps 20] [--threads 2]
                                [--sizes 2x128,3x256,3x512 | none] [--bundle DIR ...] [--json]

``--bundle models/default --sizes none`` times only the shipped model: (c), (c1), (d) and start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads: every BLAS call one thread, not only the engine's

import numpy as np  # noqa: E402

VOCAB = 300
WINDOW = 128


def make_bundle(folder: Path, layers: int, hidden: int) -> Path:
    from liveplay.model.bundle import save_bundle
    from liveplay.model.keras_model import build_model, get_arrays
    from liveplay.model.manifest import Architecture, Grid, Manifest
    from liveplay.music.tokens import Vocabulary

    arch = Architecture(VOCAB, 64, hidden, layers, 0.0)
    model = build_model(arch, seed=0)
    chords = [(p,) for p in range(128)] + [(p, p + 7) for p in range(120)] + [(p, p + 4, p + 7) for p in range(120)]
    vocab = Vocabulary(chords[: VOCAB - 2], 4)
    path = folder / f"lstm{layers}x{hidden}"
    save_bundle(path, Manifest(path.name, arch, Grid(2, 4, WINDOW)), vocab, get_arrays(model, arch))
    return path


def timed(step, n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        step(i)
        out[i] = time.perf_counter() - t0
    return out * 1e3  # ms


def measure_size(path: Path, steps: int, baseline_steps: int, eager_steps: int, threads: int) -> dict:
    import tensorflow as tf

    from liveplay.model.bundle import load_bundle
    from liveplay.model.numpy_engine import NumpyEngine
    from liveplay.model.tf_engine import TensorflowEngine
    from liveplay.model.keras_model import model_from_bundle

    bundle = load_bundle(path)
    rng = np.random.default_rng(0)
    stream = rng.integers(0, VOCAB, size=max(steps, baseline_steps) + WINDOW)
    model = model_from_bundle(bundle)
    rows = {}

    def window(i):
        return stream[i + 1: i + 1 + WINDOW][None, :].astype(np.int32)  # (1, 128)

    model.predict(window(0), verbose=0)
    rows["a_keras_predict"] = timed(lambda i: model.predict(window(i), verbose=0), baseline_steps)
    compiled = tf.function(lambda x: model(x, training=False))
    compiled(window(0))
    rows["b_keras_call"] = timed(lambda i: compiled(window(i)).numpy(), baseline_steps)
    model(window(0), training=False)
    rows["b0_keras_call_eager"] = timed(lambda i: model(window(i), training=False).numpy(), eager_steps)
    for key, engine in (("c_numpy_exact", NumpyEngine(bundle, threads=threads)),
                        ("c1_numpy_exact_1_thread", NumpyEngine(bundle, threads=1)),
                        ("d_numpy_streaming", NumpyEngine(bundle, streaming=True)),
                        ("e_tensorflow", TensorflowEngine(bundle))):
        engine.reset(stream[:WINDOW])
        engine.distribution()

        def step(i, engine=engine):
            engine.push(stream[WINDOW + i])
            engine.distribution()

        rows[key] = timed(step, steps)
        if hasattr(engine, "close"):
            engine.close()
    # streaming vs exact, over the same long stream
    exact, streaming = NumpyEngine(bundle), NumpyEngine(bundle, streaming=True)
    exact.reset(())
    streaming.reset(())
    diffs = []
    for t in stream[: 4 * WINDOW]:
        exact.push(t)
        streaming.push(t)
        diffs.append(np.abs(exact.distribution() - streaming.distribution()).max())
    diffs = np.array(diffs[WINDOW:])
    deviation = {"max_abs_prob_diff_median": float(np.median(diffs)), "max_abs_prob_diff_max": float(diffs.max())}
    base = float(np.median(rows["a_keras_predict"]))
    result = {}
    for key, ms in rows.items():
        p50 = float(np.median(ms))
        result[key] = {"p50_ms": p50, "p99_ms": float(np.percentile(ms, 99)), "steps": len(ms),
                       "speedup_vs_a_p50": base / p50}
    result["streaming_deviation"] = deviation
    result["tf_device"] = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    result["threads"] = threads
    return result


def measure_bundle(path: Path, steps: int, threads: int) -> dict:
    """The daemon's runtimes on a real bundle (its size and vocabulary), along random token ids."""
    from liveplay.model.bundle import load_bundle
    from liveplay.model.numpy_engine import NumpyEngine

    bundle = load_bundle(path)
    a, window = bundle.architecture, bundle.grid.context_length
    stream = np.random.default_rng(0).integers(0, a.vocab_size, size=2 * steps + window)
    result = {"size": f"{a.layers}x{a.hidden}", "vocab": a.vocab_size, "window": window}
    from liveplay.config import load_settings
    from liveplay.model.keyframe import for_play, key_normalised
    from liveplay.model.runtime import engine_for, keeper_for, make_engine

    m = load_settings().model
    short_term, long_term, key_keeping = m.short_term, m.long_term, m.key_keeping
    result["short_term"], result["long_term"], result["key_keeping"] = short_term, long_term, key_keeping

    engines = [("c_numpy_exact", NumpyEngine(bundle, threads=threads)),
               ("c1_numpy_exact_1_thread", NumpyEngine(bundle, threads=1)),
               ("d_numpy_streaming", NumpyEngine(bundle, streaming=True))]
    if key_normalised(bundle):  # the daemon's path for such a model: (c) inside the key frame
        # (the stream's ids are the model's own, which are the play vocabulary's first)
        # with the long- and short-term models of config.yaml's model.long_term and short_term (the
        # long-term one when the bundle has its longterm.npz), as the daemon plays
        # a duet with a spare engine (the re-hearing of models/duet/README.md, as the daemon
        # plays it): a move of the frame (frequent along random ids) is heard again in the new frame,
        # CATCH_UP tokens in each prepare()
        duet = bundle.manifest.kind == "duet"

        def framed(n):
            return for_play(bundle, engine_for(bundle, m, "numpy", n),
                            spare=make_engine(bundle, "numpy", n, short_term) if duet else None)

        engines.insert(1, ("c_keyframe", framed(threads)[1]))
        engines.insert(3, ("c1_keyframe_1_thread", framed(1)[1]))
        if key_keeping > 0 and not duet:  # what model.key_keeping costs the decision: the same path with it
            play, kept = framed(1)
            engines.insert(4, ("c1_keyframe_1_thread_with_key_keeping",
                               Answering(kept, keeper_for(bundle, play, kept, key_keeping))))
        if duet:  # what the spare spreads over steps: one reset on that many tokens
            from liveplay.model.keyframe import DUET_REHEAR

            inner = engines[3][1].inner

            def again(i):
                inner.reset(stream[i: i + DUET_REHEAR])
                inner.distribution()

            result["rehear_tokens"] = DUET_REHEAR
            result["c1_rehear_at_once_1_thread"] = summary(timed(again, max(steps // 20, 20)))
    for key, engine in engines:
        engine.reset(stream[:window])
        engine.distribution()

        def step(i, engine=engine):
            engine.push(stream[window + i])
            engine.distribution()

        ms = timed(step, steps)
        result[key] = summary(ms)
        if key.startswith("c"):  # the daemon's split: prepare() after each decision
            ahead, critical = split_step(engine, stream[window + steps:], steps)
            result[key + "_ahead"], result[key + "_critical"] = summary(ahead), summary(critical)
        engine.close()
    result["startup_numpy"] = startup(path, "numpy", threads)
    return result


class Answering:
    """An engine's steps as the daemon decides with key keeping: the distribution bent by the
    keeper (``model.inkey``) over a ``Context`` in which every step is the player's (accompany
    mode with a musician who never rests: along random ids the profile moves at every step, so
    the keeper's factors are computed afresh each time -- its worst case)."""

    def __init__(self, engine, keeper):
        from liveplay.music.context import Context

        self.engine, self.keeper, self.context = engine, keeper, Context(engine)

    def reset(self, tokens):
        self.context.reset(list(tokens)[1:])  # the context puts its REST first

    def push(self, token):
        self.context.push(int(token), theirs=True)

    def distribution(self):
        return self.keeper.answer(self.context.distribution(), self.context)

    def prepare(self):
        self.context.prepare()

    def close(self):
        self.engine.close()


def summary(ms: np.ndarray) -> dict:
    return {"p50_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
            "steps": len(ms)}


def split_step(engine, stream, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """As the daemon steps: ``prepare()`` once the decision is made (timed on its own), then, when
    the musician's token is known, ``push`` + ``distribution`` (the critical path, timed)."""
    ahead, critical = np.empty(steps), np.empty(steps)
    for i in range(steps):
        t0 = time.perf_counter()
        engine.prepare()
        t1 = time.perf_counter()
        engine.push(stream[i])
        engine.distribution()
        t2 = time.perf_counter()
        ahead[i], critical[i] = t1 - t0, t2 - t1
    return ahead * 1e3, critical * 1e3


STARTUP = """
import time, sys
t0 = time.perf_counter()
from liveplay.model.bundle import load_bundle
from liveplay.model.runtime import make_engine
b = load_bundle(sys.argv[1])
e = make_engine(b, sys.argv[2], int(sys.argv[3]))
e.reset([0])
e.distribution()
t1 = time.perf_counter()
import re
hwm = int(re.search(r"VmHWM:\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024
print(t1 - t0, hwm, 'tensorflow' in sys.modules)  # VmHWM resets at exec; ru_maxrss keeps the parent's
"""


def startup(path: Path, runtime: str, threads: int, runs: int = 5) -> dict:
    times, rss, tf_loaded = [], [], None
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", STARTUP, str(path), runtime, str(threads)], capture_output=True,
                             text=True, check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        t, r, loaded = out.stdout.split()
        times.append(float(t))
        rss.append(float(r))
        tf_loaded = loaded == "True"
    return {"median_s": float(np.median(times)), "max_s": float(max(times)), "peak_rss_mb": float(np.median(rss)),
            "tensorflow_imported": tf_loaded, "runs": runs}


def trained_deviation(path: Path, steps: int = 1000) -> dict:
    """Streaming vs exact on a trained model, along music it samples itself (seeded)."""
    from liveplay.model.bundle import load_bundle
    from liveplay.config import load_settings
    from liveplay.model.numpy_engine import NumpyEngine
    from liveplay.music.sampler import Sampler

    bundle = load_bundle(path)
    exact, streaming = NumpyEngine(bundle), NumpyEngine(bundle, streaming=True)
    sampler = Sampler(load_settings().sampler, seed=0)
    history = [0]
    exact.reset(history)
    streaming.reset(history)
    diffs = []
    for _ in range(steps):
        p = exact.distribution()
        diffs.append(np.abs(p - streaming.distribution()).max())
        token = sampler.sample(p, history)
        history.append(token)
        exact.push(token)
        streaming.push(token)
    w = bundle.grid.context_length  # diffs[i] follows i + 1 tokens: the first W fit in the window
    after = np.array(diffs[w:])
    return {"model": str(path), "steps": steps, "max_abs_prob_diff_median": float(np.median(after)),
            "max_abs_prob_diff_p99": float(np.percentile(after, 99)), "max_abs_prob_diff_max": float(after.max()),
            "within_window_max": float(max(diffs[:w]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--baseline-steps", type=int, default=2000)
    parser.add_argument("--eager-steps", type=int, default=20, help="steps of the eager Keras call (b0)")
    parser.add_argument("--threads", type=int, default=2, help="threads of the NumPy exact step (c)")
    parser.add_argument("--sizes", default="2x128,3x256,3x512", help="LAYERSxHIDDEN, comma-separated")
    parser.add_argument("--deviation-model", metavar="DIR", help="also measure streaming vs exact on this "
                        "trained bundle (e.g. models/default)")
    parser.add_argument("--bundle", action="append", default=[], metavar="DIR",
                        help="also time the daemon's runtimes on this real bundle (repeatable; e.g. models/default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sizes = [tuple(int(n) for n in size.split("x")) for size in args.sizes.split(",") if size and size != "none"]
    results = {"cpu_count": os.cpu_count(), "sizes": {}}
    results["bundles"] = {d: measure_bundle(Path(d), args.steps, args.threads) for d in args.bundle}
    with tempfile.TemporaryDirectory() as tmp:
        for layers, hidden in sizes:
            path = make_bundle(Path(tmp), layers, hidden)
            results["sizes"][f"{layers}x{hidden}"] = measure_size(path, args.steps, args.baseline_steps, args.eager_steps,
                                                                  args.threads)
            if (layers, hidden) == (3, 256):
                results["startup_3x256"] = {rt: startup(path, rt, args.threads)
                                            for rt in ("numpy", "tensorflow")}
    if args.deviation_model:
        results["streaming_deviation_trained"] = trained_deviation(Path(args.deviation_model))
    results["benchmark_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps(results, indent=2))
        return
    names = {"a_keras_predict": "(a) Keras predict, full window",
             "b_keras_call": "(b) Keras call, tf.function, full window",
             "b0_keras_call_eager": "(b0) Keras call, eager, full window",
             "c_numpy_exact": f"(c) NumPy exact, {args.threads} threads",
             "c1_numpy_exact_1_thread": "(c1) NumPy exact, 1 thread",
             "d_numpy_streaming": "(d) NumPy streaming", "e_tensorflow": "(e) TensorFlow runtime"}
    for size, rows in results["sizes"].items():
        print(f"\n{size} LSTM, vocab {VOCAB}, window {WINDOW} (TensorFlow on {rows['tf_device']})")
        print(f"  {'runtime':42} {'p50 ms':>8} {'p99 ms':>8} {'x vs (a)':>9} {'steps':>6}")
        for key, label in names.items():
            r = rows[key]
            print(f"  {label:42} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {r['speedup_vs_a_p50']:9.1f} {r['steps']:6d}")
        d = rows["streaming_deviation"]
        print(f"  streaming vs exact, max |dp| per step: median {d['max_abs_prob_diff_median']:.4f}, "
              f"max {d['max_abs_prob_diff_max']:.4f}")
    if "streaming_deviation_trained" in results:
        d = results["streaming_deviation_trained"]
        print(f"\nstreaming vs exact on {d['model']} ({d['steps']} self-sampled steps), max |dp| per step after the "
              f"window fills: median {d['max_abs_prob_diff_median']:.4f}, p99 {d['max_abs_prob_diff_p99']:.4f}, "
              f"max {d['max_abs_prob_diff_max']:.4f} (within the window: {d['within_window_max']:.1e})")
    for d, r in results["bundles"].items():
        print(f"\n{d}: {r['size']} LSTM, vocab {r['vocab']}, window {r['window']}")
        for key, label in (("c_numpy_exact", f"(c) NumPy exact, {args.threads} threads"),
                           ("c_numpy_exact_ahead", "    its prepare(), after the decision"),
                           ("c_numpy_exact_critical", "    then push + distribution"),
                           ("c_keyframe", "(c) key frame + the mixed models"),
                           ("c_keyframe_ahead", "    its prepare(), after the decision"),
                           ("c_keyframe_critical", "    then push + distribution (the daemon's wait)"),
                           ("c1_numpy_exact_1_thread", "(c1) NumPy exact, 1 thread"),
                           ("c1_numpy_exact_1_thread_ahead", "    its prepare(), after the decision"),
                           ("c1_numpy_exact_1_thread_critical", "    then push + distribution"),
                           ("c1_keyframe_1_thread", "(c1) key frame + mixed, 1 thread (daemon)"),
                           ("c1_keyframe_1_thread_ahead", "    its prepare(), after the decision"),
                           ("c1_keyframe_1_thread_critical", "    then push + distribution"),
                           ("c1_keyframe_1_thread_with_key_keeping", "(c1) the same, the answer's key keeping"),
                           ("c1_keyframe_1_thread_with_key_keeping_ahead", "    its prepare(), after the decision"),
                           ("c1_keyframe_1_thread_with_key_keeping_critical", "    then push + distribution + keeping"),
                           ("c1_rehear_at_once_1_thread", f"re-hearing {r.get('rehear_tokens')} tokens at once, 1 thread"),
                           ("d_numpy_streaming", "(d) NumPy streaming")):
            if key not in r:
                continue
            x = r[key]
            print(f"  {label:42} p50 {x['p50_ms']:7.3f}  p99 {x['p99_ms']:7.3f}  max {x['max_ms']:7.3f} ms"
                  f"  ({x['steps']} steps)")
        s = r["startup_numpy"]
        print(f"  start-up to first distribution (numpy): median {s['median_s']:.3f} s, peak RSS "
              f"{s['peak_rss_mb']:.0f} MB")
    if results.get("startup_3x256"):
        print("\nstart-up to first distribution, 3x256 (fresh process):")
    for rt, s in results.get("startup_3x256", {}).items():
        print(f"  {rt:10} median {s['median_s']:.3f} s (max {s['max_s']:.3f}), peak RSS {s['peak_rss_mb']:.0f} MB, "
              f"tensorflow imported: {s['tensorflow_imported']}")


if __name__ == "__main__":
    main()
