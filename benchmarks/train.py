"""Training throughput (tokens/s per device) and peak memory against corpus size.

    python benchmarks/train.py speed [--files 40] [--steps 30] [--warmup 5] [--sizes 2x128,2x256] [--batch 32]
    python benchmarks/train.py memory [--files 40] [--scale 10]
    python benchmarks/train.py pipeline [--files 40] [--scales 1,10,30]

Both make synthetic MIDI files (random chord progressions with holds and rests, seeded) in a
temporary folder and run ``liveplay prepare`` on them.

``speed`` trains each model size in this process on the streamed shards (``offline.stream``,
the distribution strategy ``train.strategy: auto`` picks) and times every step with a callback:
tokens/s = global batch x context length / median step time after ``--warmup`` steps, divided
by the devices in sync.

``memory`` runs ``liveplay train`` one epoch as a child process, on the prepared folder and on
the MIDI folders (the in-memory path), at 1x and ``--scale``x the files, and reads each child's
peak RSS (``ru_maxrss`` from ``os.wait4``).

``pipeline`` does the same for the data alone: a child builds the trainer's training pipeline
(streamed, or read into memory) and runs one epoch of it without a model, at each scale, with
windows every step (``window_stride: 1``) so that the data, not TensorFlow, weighs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from liveplay.config import load_settings  # noqa: E402
from liveplay.music.midifile import write_tokens  # noqa: E402
from liveplay.music.tokens import HOLD, REST  # noqa: E402
from liveplay.offline.shards import prepare  # noqa: E402

CONFIG = """
grid:
  context_length: {context}
train:
  batch_size: {batch}
  window_stride: {stride}
  transpose: [-5, 6]
  augment: random
  epochs: 1
  shuffle_buffer: 4096
model:
  embedding: 32
  hidden: {hidden}
  layers: {layers}
prepare:
  shard_windows: 2048
"""


def synthetic_midi(folder: Path, files: int, bars: int = 64, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        root = int(rng.integers(48, 60))
        tokens = []
        for _ in range(bars * 4):  # beats of two steps: a chord and a HOLD, or REST
            if rng.random() < 0.15:
                tokens += [REST, REST]
                continue
            base = root + int(rng.choice([0, 2, 4, 5, 7, 9]))
            chord = tuple(sorted({base, base + int(rng.choice([3, 4])), base + 7}))
            tokens += [chord, HOLD]
        write_tokens(tokens, folder / f"song{i:05d}.mid", 2, 120)


def speed(args, tmp: Path) -> None:
    import tensorflow as tf

    from liveplay.model.keras_model import build_model
    from liveplay.model.manifest import Architecture
    from liveplay.music.tokens import transposition_table
    from liveplay.offline import distribute, stream

    synthetic_midi(tmp / "midi", args.files)
    rows = []
    for size in args.sizes.split(","):
        layers, hidden = map(int, size.split("x"))
        config = tmp / f"{size}.yaml"
        config.write_text(CONFIG.format(context=args.context, batch=args.batch, stride=16, hidden=hidden,
                                        layers=layers))
        settings = load_settings(config)
        prepare([tmp / "midi"], tmp / f"prep-{size}", settings)
        prepared = stream.open_prepared(tmp / f"prep-{size}", settings)
        cluster = distribute.cluster_from_env()
        kind = distribute.choose(settings.train.strategy, cluster, len(tf.config.list_physical_devices("GPU")))
        strategy, K = distribute.make_strategy(kind), distribute.keras_for(kind)
        global_batch = args.batch * strategy.num_replicas_in_sync
        shifts = list(range(-5, 7))
        table = tf.constant(transposition_table(prepared.vocab, shifts))
        ds = stream.train_dataset(tf, prepared, settings, cluster, global_batch, {}, table, shifts)
        arch = Architecture(len(prepared.vocab), 32, hidden, layers)
        with strategy.scope():
            model = build_model(arch, seed=0, keras=K)
            model.compile(optimizer=K.optimizers.Adam(1e-3),
                          loss=K.losses.SparseCategoricalCrossentropy(from_logits=True))
        times: list[float] = []

        class Timer(K.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                self.t0 = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                times.append(time.perf_counter() - self.t0)

        model.fit(ds, epochs=1, steps_per_epoch=args.warmup + args.steps, verbose=0, callbacks=[Timer()])
        step = statistics.median(times[args.warmup:])
        devices = distribute.local_devices(tf)
        rows.append({"model": size, "strategy": kind, "devices": f"{len(devices)} {devices[0]}",
                     "global_batch": global_batch, "median_step_ms": round(1000 * step, 1),
                     "tokens_per_s_per_device": round(global_batch * args.context / step / len(devices))})
    print("| model | strategy | devices | global batch | median step ms | tokens/s per device |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['strategy']} | {r['devices']} | {r['global_batch']} | {r['median_step_ms']} | "
              f"{r['tokens_per_s_per_device']} |")
    print(json.dumps(rows))


def child_rss(argv: list[str], env: dict) -> tuple[float, float]:
    """(peak RSS MiB, wall s) of one child process."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{proc.stderr.read().decode()[-3000:]}")
    return usage.ru_maxrss / 1024, time.monotonic() - started


def memory(args, tmp: Path) -> None:
    config = tmp / "bench.yaml"
    config.write_text(CONFIG.format(context=64, batch=256, stride=4, hidden=16, layers=1))
    settings = load_settings(config)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    rows = []
    for scale in (1, args.scale):
        midi = tmp / f"midi-{scale}x"
        synthetic_midi(midi, args.files * scale)
        manifest = prepare([midi], tmp / f"prep-{scale}x", settings)
        windows = manifest["counts"]["windows"]["train"]
        for path, data in (("prepared (streamed)", tmp / f"prep-{scale}x"), ("MIDI folders (in memory)", midi)):
            out = tmp / f"model-{scale}x-{len(rows)}"
            rss, wall = child_rss([sys.executable, "-m", "liveplay", "train", str(data), "--out", str(out),
                                   "--config", str(config), "--epochs", "1"], env)
            rows.append({"data": f"{scale}x ({args.files * scale} files, {windows} windows)", "path": path,
                         "peak_rss_mib": round(rss), "wall_s": round(wall)})
    print("| data | train path | peak RSS MiB | wall s |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['data']} | {r['path']} | {r['peak_rss_mib']} | {r['wall_s']} |")
    print(json.dumps(rows))


def pipeline_child(data: str, config: str) -> None:
    """One epoch of the trainer's training pipeline, no model: the data's own memory."""
    import tensorflow as tf

    from liveplay.music.tokens import transposition_table
    from liveplay.offline import distribute, memory as in_memory, shards, stream

    settings = load_settings(config)
    shifts = list(range(-5, 7))
    if shards.is_prepared(data):
        prepared = stream.open_prepared(data, settings)
        table = tf.constant(transposition_table(prepared.vocab, shifts))
        ds = stream.train_dataset(tf, prepared, settings, distribute.Cluster(), settings.train.batch_size, {},
                                  table, shifts).take(stream.steps_per_epoch(prepared, {}, settings.train.batch_size))
    else:
        ds = in_memory.memory_data(tf, [data], settings, None, None, settings.train.batch_size, {}, shifts)[6]
    batches = sum(1 for _ in ds)
    print(batches)


def pipeline(args, tmp: Path) -> None:
    config = tmp / "bench.yaml"
    config.write_text(CONFIG.format(context=64, batch=256, stride=1, hidden=16, layers=1))
    settings = load_settings(config)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    rows = []
    for scale in [int(s) for s in args.scales.split(",")]:
        midi = tmp / f"midi-{scale}x"
        synthetic_midi(midi, args.files * scale)
        windows = prepare([midi], tmp / f"prep-{scale}x", settings)["counts"]["windows"]["train"]
        for path, data in (("prepared (streamed)", tmp / f"prep-{scale}x"), ("MIDI folders (in memory)", midi)):
            rss, wall = child_rss([sys.executable, __file__, "_pipeline", str(data), str(config)], env)
            rows.append({"data": f"{scale}x ({args.files * scale} files, {windows} windows)", "path": path,
                         "peak_rss_mib": round(rss), "wall_s": round(wall)})
        shutil.rmtree(midi)
    print("| data | pipeline | peak RSS MiB | wall s |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['data']} | {r['path']} | {r['peak_rss_mib']} | {r['wall_s']} |")
    print(json.dumps(rows))


def main() -> None:
    if sys.argv[1:2] == ["_pipeline"]:
        return pipeline_child(*sys.argv[2:4])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--files", type=int, default=40)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--sizes", default="2x128,2x256")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--context", type=int, default=128)
    p = sub.add_parser("memory")
    p.add_argument("--files", type=int, default=40)
    p.add_argument("--scale", type=int, default=10)
    p = sub.add_parser("pipeline")
    p.add_argument("--files", type=int, default=40)
    p.add_argument("--scales", default="1,10,30")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="liveplay-bench-"))
    try:
        {"speed": speed, "memory": memory, "pipeline": pipeline}[args.what](args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
