"""Training data streamed from a prepared folder (``offline.shards``) through tf.data.

Memory follows the shuffle buffer and the few shards being read, not the corpus: shard files are
interleaved (each worker reads its own shards when there are at least as many as workers, else
every worker reads all and keeps every n-th window), windows pass a shuffle buffer of
``train.shuffle_buffer``, and batches are prefetched. The training stream repeats, so an epoch is
``steps_per_epoch`` global batches: the windows the in-memory trainer would take an epoch (after
``train.folder_weights``), rounded up to whole batches. The validation stream is read whole by
every worker (its loss is the mean over the same windows whatever the cluster).

The per-window work is the in-memory trainer's: the folder-weight draw, one random key per window
(``augment: random``: the transposition table looked up in TensorFlow), then inputs, shifted
targets and weights.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveplay.config import Settings
from liveplay.errors import DataError
from liveplay.music.tokens import Coverage, Vocabulary
from liveplay.offline import shards
from liveplay.offline.dataset import Split
from liveplay.offline.distribute import Cluster

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    folder: Path
    manifest: dict
    vocab: Vocabulary
    split: Split

    @property
    def windows(self) -> dict[str, int]:
        return dict(self.manifest["counts"]["windows"])

    @property
    def tokens(self) -> dict[str, int]:
        return dict(self.manifest["counts"]["tokens"])

    def coverage(self) -> dict[str, Coverage]:
        """Per split, as ``Coverage`` (rebuilt from the manifest's shares and token counts)."""
        out = {}
        for part, share in self.manifest["vocabulary_coverage"].items():
            n = self.tokens[part]
            out[part] = _Shares(n, share["chords"], share["tokens"])
        return out

    def shard_paths(self, part: str) -> list[str]:
        return [str(self.folder / "shards" / s["file"]) for s in self.manifest["shards"][part]]


@dataclass(frozen=True)
class _Shares:
    """A coverage known only as shares (what the trainer logs and records)."""

    tokens: int
    chord_share: float
    token_share: float


def open_prepared(folder: str | Path, settings: Settings) -> Prepared:
    """The prepared folder, checked against ``settings`` (the data must be what they describe)."""
    folder = Path(folder)
    manifest = shards.read_manifest(folder)
    wanted = shards.data_settings(settings)
    differ = [k for k, v in wanted.items() if k != "shard_windows" and manifest["settings"].get(k) != v]
    if differ:
        raise DataError(f"{folder / shards.MANIFEST}: prepared with other settings ("
                        + ", ".join(f"{k} {manifest['settings'].get(k)!r}, now {wanted[k]!r}" for k in differ)
                        + "); run liveplay prepare again with these settings")
    s = manifest["split"]
    return Prepared(folder, manifest, shards.vocabulary(manifest), Split(s["train"], s["validation"], s["test"]))


def expected_train_windows(prepared: Prepared, weights: dict[str, float]) -> float:
    """Windows the in-memory trainer takes an epoch: each folder's, times its weight."""
    return sum(n * weights.get(f, 1.0) for f, n in prepared.manifest["counts"]["train_windows_by_folder"].items())


def steps_per_epoch(prepared: Prepared, weights: dict[str, float], global_batch: int) -> int:
    return max(1, math.ceil(expected_train_windows(prepared, weights) / global_batch))


def _reader(tf, context_length: int):
    """A shard path -> a dataset of its windows (x, w, folder), read with NumPy, never pickle."""

    def load(path):
        arrays = shards.load_shard(path.decode())
        return arrays["x"].astype(np.int32), arrays["w"].astype(np.float32), arrays["folder"].astype(np.int32)

    def read(path):
        x, w, f = tf.numpy_function(load, [path], [tf.int32, tf.float32, tf.int32], stateful=False)
        x.set_shape([None, context_length + 1])  # (N, L + 1)
        w.set_shape([None, context_length])  # (N, L)
        f.set_shape([None])  # (N,)
        return tf.data.Dataset.from_tensor_slices((x, w, f))

    return read


def train_dataset(tf, prepared: Prepared, settings: Settings, cluster: Cluster, global_batch: int,
                  weights: dict[str, float], table, shifts: list[int]):
    """The repeating, shuffled, augmented training stream of global batches for this worker."""
    t = settings.train
    paths = prepared.shard_paths("train")
    if not paths:
        raise DataError(f"{prepared.folder}: no training windows (files too short?)")
    files = tf.data.Dataset.from_tensor_slices(paths)
    by_file = cluster.workers > 1 and len(paths) >= cluster.workers
    if by_file:
        files = files.shard(cluster.workers, cluster.index)  # each worker its own shard files
    elif cluster.workers > 1:
        log.warning("%d training shard(s) for %d workers: every worker reads all and keeps every %d-th window "
                    "(prepare with a smaller prepare.shard_windows to shard by file)", len(paths),
                    cluster.workers, cluster.workers)
    n_files = len(paths) if not by_file else len(range(cluster.index, len(paths), cluster.workers))
    files = files.shuffle(n_files, seed=t.seed, reshuffle_each_iteration=True).repeat()
    ds = files.interleave(_reader(tf, prepared.manifest["grid"]["context_length"]), cycle_length=min(4, n_files),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cluster.workers > 1 and not by_file:
        ds = ds.shard(cluster.workers, cluster.index)
    ds = ds.shuffle(t.shuffle_buffer, seed=t.seed, reshuffle_each_iteration=True)
    if t.folder_weights:
        names = prepared.manifest["folders"]
        keep = tf.constant([weights.get(n, 1.0) for n in names], tf.float32)  # (folders,)
        ds = ds.filter(lambda x, w, f: tf.random.uniform([], seed=t.seed + 1) < tf.gather(keep, f))
    if t.augment == "random":
        def transposed(x, w, f):  # one random key for the whole window (inputs and targets alike)
            key = tf.random.uniform([], 0, len(shifts), dtype=tf.int32, seed=t.seed)
            return tf.gather(table[key], x), w, f

        ds = ds.map(transposed)
    ds = ds.map(lambda x, w, f: (x[:-1], x[1:], w))
    return _finish(tf, ds.batch(global_batch), cluster)


def validation_dataset(tf, prepared: Prepared, cluster: Cluster, global_batch: int):
    """Every validation window once, in order, on every worker; None when there are none."""
    paths = prepared.shard_paths("validation")
    if not paths:
        return None
    ds = tf.data.Dataset.from_tensor_slices(paths).flat_map(_reader(tf, prepared.manifest["grid"]["context_length"]))
    ds = ds.map(lambda x, w, f: (x[:-1], x[1:], w)).batch(global_batch)
    batches = math.ceil(prepared.windows["validation"] / global_batch)
    return _finish(tf, ds.apply(tf.data.experimental.assert_cardinality(batches)), cluster)


def _finish(tf, ds, cluster: Cluster):
    if cluster.workers > 1:  # sharded above, by hand: tf.distribute must not shard again
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)
