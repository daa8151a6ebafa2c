"""Where training runs: one device, several local GPUs, or several machines -- all tf.distribute.

- ``one-device``: TensorFlow's default strategy (the first GPU if there is one, else the CPU).
- ``mirrored``: ``tf.distribute.MirroredStrategy`` over the local GPUs (synchronous all-reduce).
- ``multi-worker``: ``tf.distribute.MultiWorkerMirroredStrategy``; the cluster comes from the
  standard ``TF_CONFIG`` environment variable (``{"cluster": {"worker": [host:port, ...]},
  "task": {"type": "worker", "index": i}}``), every worker runs the same ``liveplay train``.
  Worker 0 is the chief: only it writes the bundle; the others write theirs to a temporary
  folder (all of them run the same code, as the TensorFlow guide asks) that is then removed.

Keras 3 cannot ``fit`` under MultiWorkerMirroredStrategy yet (keras-team/keras#20585: its
symbolic build reduces the first distributed batch and fails on a ``PerReplica``), so the
multi-worker trainer uses ``tf_keras`` (the ``tf-keras`` package, Keras 2 for TensorFlow), which
the TensorFlow multi-worker guide is written against. One device and mirrored keep Keras 3.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from liveplay.errors import UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cluster:
    """This process's place in the cluster (``TF_CONFIG``); one worker when it is not set."""

    workers: int = 1
    index: int = 0

    @property
    def chief(self) -> bool:
        return self.index == 0


def cluster_from_env(environ=os.environ) -> Cluster:
    raw = environ.get("TF_CONFIG")
    if not raw:
        return Cluster()
    try:
        config = json.loads(raw)
        workers = config.get("cluster", {}).get("worker", [])
        task = config.get("task", {})
        index = int(task.get("index", 0))
    except (ValueError, AttributeError, TypeError) as err:
        raise UsageError(f"TF_CONFIG: not the JSON TensorFlow expects ({err})") from err
    if config.get("cluster", {}).keys() - {"worker"}:
        raise UsageError("TF_CONFIG: only 'worker' tasks are used (MultiWorkerMirroredStrategy; worker 0 is "
                         "the chief)")
    if task.get("type", "worker") != "worker" or not 0 <= index < max(len(workers), 1):
        raise UsageError(f"TF_CONFIG: task must be a worker with an index below {len(workers)} (got {task})")
    return Cluster(max(len(workers), 1), index)


def choose(setting: str, cluster: Cluster, local_gpus: int) -> str:
    """``train.strategy`` (auto resolved) for this cluster and these local GPUs."""
    if setting == "auto":
        return "multi-worker" if cluster.workers > 1 else "mirrored" if local_gpus > 1 else "one-device"
    if setting != "multi-worker" and cluster.workers > 1:
        raise UsageError(f"TF_CONFIG names {cluster.workers} workers but train.strategy is {setting}")
    return setting


def make_strategy(kind: str):
    """The tf.distribute strategy of kind ``kind`` (``choose``'s answer)."""
    import tensorflow as tf

    for name in ("tensorflow", "absl"):  # a line per all-reduce and per sharding call otherwise
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).getEffectiveLevel()))
    if kind == "multi-worker":
        # AUTO: ring (gRPC) collectives between CPU workers, NCCL between GPUs
        comm = tf.distribute.experimental.CommunicationImplementation.AUTO
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(implementation=comm))
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def keras_for(kind: str):
    """The Keras the strategy trains with: ``tf_keras`` for multi-worker (module docstring)."""
    if kind != "multi-worker":
        import keras

        return keras
    try:
        import tf_keras
    except ImportError as err:
        raise UsageError("train.strategy multi-worker needs the tf-keras package (pip install "
                         "'liveplay[train]'): Keras 3 cannot fit under MultiWorkerMirroredStrategy") from err
    return tf_keras


def local_devices(tf) -> list[str]:
    """The kinds of this process's training devices, e.g. ["GPU", "GPU"] or ["CPU"]."""
    gpus = tf.config.list_logical_devices("GPU")
    return ["GPU"] * len(gpus) if gpus else ["CPU"]


class WriteTarget:
    """The folder this worker writes its bundle to: ``out`` on the chief, a temporary one
    elsewhere (removed by ``cleanup``), so that every worker runs the same saving code."""

    def __init__(self, out: Path, cluster: Cluster):
        self.out = out
        self.cluster = cluster
        self.path = out if cluster.chief else Path(tempfile.mkdtemp(prefix=f"liveplay-worker{cluster.index}-"))

    def cleanup(self) -> None:
        if not self.cluster.chief:
            shutil.rmtree(self.path, ignore_errors=True)


def backup_dir(out: Path) -> Path:
    """The folder beside the bundle where an unfinished run keeps what it needs to go on:
    ``keras/`` for ``BackupAndRestore`` and the trainer's own state, both written by the chief.
    Like the TensorFlow guide's backup, every worker must see it (one machine, or shared storage);
    each restarted worker restores from it."""
    return out.with_name(out.name + ".backup")
