"""The offline trainer: a folder of MIDI files -> a model bundle.

- Files are split **by file** into train / validation / test (seeded); no window
  is shared across splits, and the split is recorded in the manifest. Resuming
  from an existing bundle keeps its split and vocabulary.
- Transposition augmentation (``train.transpose`` semitones) on training files only.
- Every file's tokens start with REST (the "silence before the music" the live
  context also starts from). Windows of ``context_length + 1`` tokens, every
  ``window_stride`` steps, are cut from each file; the model learns the next
  token at every position of a window (so contexts of 1..W tokens from a zero
  state are all trained), padding at a file's end carries zero weight.
- tf.data pipeline; sparse categorical cross-entropy from logits; Adam; the
  best-validation weights are kept, and written as the bundle after every improving epoch
  (a run killed at any point resumes from its best epoch); early stopping after ``patience``
  epochs.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from liveplay.config import Settings, to_dict
from liveplay.errors import DataError, UsageError
from liveplay.model import bundle as bundle_files
from liveplay.model.bundle import Architecture, FileSplit, Grid, Manifest, Training
from liveplay.music.tokens import transposition_table
from liveplay.offline import distribute, memory, shards, stream

log = logging.getLogger(__name__)


def train(data: Sequence[str | Path], out: str | Path, settings: Settings, epochs: int | None = None,
          command: str | None = None, base: str | Path | None = None,
          split_from: str | Path | None = None) -> Manifest:
    """Train (or resume) a bundle in ``out``; returns the manifest written.

    ``data``: MIDI files and folders (read into memory), or one prepared folder (``liveplay
    prepare``: streamed from its shards; the only data a multi-worker run takes).
    ``base``: fine-tune that bundle on ``data`` -- its grid, vocabulary (chords outside it map to
    the nearest, and how many is logged and recorded) and weights are the start; the new files get
    a split of their own.
    ``split_from``: a new run keeps that bundle's split for every file it names and splits only the
    others (``dataset.keep_split``): a model of a changed corpus is then compared with that bundle on
    the same held-out files (with ``train.validation_min``, on the same test files: some of its
    training files are topped up into validation). A resumed run keeps its own split; ``base`` gives new files their own.
    """
    import tensorflow as tf

    from liveplay.model.keras_model import build_model, get_arrays, set_arrays

    started = time.monotonic()
    out = Path(out)
    t = settings.train
    epochs = epochs if epochs is not None else t.epochs
    cluster = distribute.cluster_from_env()
    kind = distribute.choose(t.strategy, cluster, len(tf.config.list_physical_devices("GPU")))
    prepared = stream.open_prepared(data[0], settings) if len(data) == 1 and shards.is_prepared(data[0]) else None
    if prepared is None and kind == "multi-worker":
        raise UsageError("multi-worker training reads a prepared folder: run liveplay prepare DATA --out DIR, "
                         "then liveplay train DIR on every worker")
    if prepared is not None and base is not None:
        raise UsageError("train --from fine-tunes on MIDI files, not on a prepared folder")
    if split_from is not None and (prepared is not None or base is not None):
        raise UsageError("train --split-from starts a new run on MIDI files (not with --from, not on a prepared "
                         "folder: liveplay prepare made its split)")
    if prepared is not None and t.kind == "duet":
        raise UsageError("train.kind: duet trains on MIDI files read into memory (liveplay train FILES/FOLDERS); "
                         "a prepared folder holds single-stream tokens (duet shards are not supported yet)")
    strategy = distribute.make_strategy(kind)
    K = distribute.keras_for(kind)
    replicas = strategy.num_replicas_in_sync
    global_batch = t.batch_size * replicas
    backup = distribute.backup_dir(out) if prepared is not None else None
    carried = _read_carried(backup)  # an interrupted run of a prepared folder: its own state
    resumed = None
    if (out / bundle_files.MANIFEST).exists() and carried is None:
        resumed = bundle_files.load_bundle(out)
        log.info("resuming from %s (its grid, vocabulary and split are kept)", out)
    elif base is not None:
        base = bundle_files.load_bundle(base)
        log.info("fine-tuning %s on new files: its grid, vocabulary and weights are the start", base.path)
    kept = None
    if split_from is not None and resumed is None:
        kept = bundle_files.read_manifest(Path(split_from)).training.files
        log.info("keeping the split of %s for the files it names", split_from)
    start_from = resumed or base
    was = resumed.manifest.training.settings.get("augment", "all") if resumed is not None else t.augment
    reframed = was != t.augment  # its losses were measured on other windows: its best is no bar to beat
    if reframed:
        log.warning("resuming %s with train.augment %s (it trained with %s): its best epoch is not carried "
                    "over, the first epoch in the new frame sets the bar", out, t.augment, was)
    if start_from is not None and start_from.manifest.kind != t.kind:
        raise UsageError(f"{start_from.path} is a {start_from.manifest.kind} model; train.kind is {t.kind} "
                         "(set train.kind to match, or train into a new OUT)")
    log.info("strategy %s: %d worker(s), this is worker %d, %d replica(s) in sync, global batch %d", kind,
             cluster.workers, cluster.index, replicas, global_batch)

    tf.keras.utils.set_random_seed(t.seed)
    weights = folder_weights(t.folder_weights)
    if prepared is not None and any(w > 1 for w in weights.values()):
        raise UsageError("train.folder_weights above 1 take a folder's windows more than once an epoch: files read "
                         "into memory only (liveplay train FILES/FOLDERS), not a prepared folder")
    shifts = list(range(min(t.transpose), max(t.transpose) + 1)) if t.transpose else [0]
    if prepared is not None:
        grid, arch = Grid(**prepared.manifest["grid"]), resumed.architecture if resumed else None
        vocab, split, cov = prepared.vocab, prepared.split, prepared.coverage()
        if resumed is not None and (resumed.vocab.chords != vocab.chords or resumed.grid != grid):
            raise DataError(f"{out}: resuming needs the vocabulary and grid it was trained with; {data[0]} was "
                            "prepared with others (train into a new OUT)")
        n_windows = prepared.windows
        table = tf.constant(transposition_table(vocab, shifts) if t.augment == "random" else np.zeros((0, 0), np.int32))
        train_ds = stream.train_dataset(tf, prepared, settings, cluster, global_batch, weights, table, shifts)
        val_ds = stream.validation_dataset(tf, prepared, cluster, global_batch)
        fit_steps = stream.steps_per_epoch(prepared, weights, global_batch)
        log.info("windows: %d train (streamed, %d steps of %d an epoch), %d validation", n_windows["train"],
                 fit_steps, global_batch, n_windows.get("validation", 0))
    else:
        grid, arch, vocab, split, cov, n_windows, train_ds, val_ds = memory.memory_data(
            tf, data, settings, resumed, base, global_batch, weights, shifts, kept)
        fit_steps = None
    if arch is None:
        m = settings.model
        arch = Architecture(len(vocab), m.embedding, m.hidden, m.layers, m.dropout)
    for k, c in cov.items():
        if c.tokens:
            log.info("vocabulary coverage, %s: %.1f%% of chords, %.1f%% of tokens", k,
                     100 * c.chord_share, 100 * c.token_share)
    if base is not None:
        outside = {k: c.chords - c.chords_in_vocab for k, c in cov.items()}
        log.info("chord onsets outside %s's vocabulary, mapped to the nearest: %s", base.name,
                 ", ".join(f"{n} of {cov[k].chords} ({k})" for k, n in outside.items() if cov[k].tokens))

    with strategy.scope():
        model = build_model(arch, seed=t.seed, keras=K)
        if start_from is not None:
            set_arrays(model, arch, start_from.weights)
        model.compile(optimizer=K.optimizers.Adam(t.learning_rate),
                      loss=K.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=["accuracy"])

    target = distribute.WriteTarget(out, cluster)  # the chief writes `out`; the others a temporary folder
    history_path = out / bundle_files.HISTORY
    history = json.loads(history_path.read_text()) if resumed and history_path.exists() else []
    if resumed is not None:  # the manifest is written last: rows past its epochs are from a torn checkpoint
        history = history[: resumed.manifest.training.epochs_run]
    offset = len(history)
    previous_wall = resumed.manifest.training.wall_time_s if resumed else 0.0
    if carried is not None:
        history, offset, previous_wall = carried["history"], carried["offset"], carried["previous_wall"]
    fine_tuned_from = outside_vocabulary = None
    if resumed is not None:  # a resumed run descends from what its bundle did
        fine_tuned_from = resumed.manifest.training.fine_tuned_from
        outside_vocabulary = resumed.manifest.training.outside_vocabulary
    if base is not None:
        fine_tuned_from = str(base.path)
        outside_vocabulary = {k: c.chords - c.chords_in_vocab for k, c in cov.items() if c.tokens}

    def write(keeper) -> Manifest:
        """The bundle of the best epoch so far (the model holds its weights), history included."""
        rows = history + [dict(epoch=offset + i + 1, **{k: float(v) for k, v in row.items()})
                          for i, row in enumerate(keeper.rows)]
        training = Training(
            command=command,
            files=FileSplit(tuple(split.train), tuple(split.validation), tuple(split.test)),
            transpose=tuple(t.transpose),
            settings=to_dict(settings.train),
            windows={k: int(v) for k, v in n_windows.items()},
            tokens={k: c.tokens for k, c in cov.items()},
            vocabulary_coverage={k: {"chords": round(c.chord_share, 4), "tokens": round(c.token_share, 4)}
                                 for k, c in cov.items() if c.tokens},
            epochs_run=offset + len(keeper.rows),
            best_epoch=keeper.best_epoch,
            best=keeper.best_row,
            wall_time_s=round(previous_wall + time.monotonic() - started, 1),
            tensorflow=tf.__version__,
            fine_tuned_from=fine_tuned_from,
            outside_vocabulary=outside_vocabulary,
            strategy=kind, workers=cluster.workers, devices=tuple(distribute.local_devices(tf)),
            global_batch_size=global_batch, data="prepared" if prepared is not None else "midi",
        )
        manifest = Manifest(out.name, arch, grid, training,
                            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), kind=t.kind,
                            files=bundle_files.FILES)
        where = target.path
        where.mkdir(parents=True, exist_ok=True)
        with bundle_files.replacing(where / bundle_files.KERAS) as tmp:
            model.save(tmp)
        with bundle_files.replacing(where / bundle_files.HISTORY) as tmp:
            tmp.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
        plot_curves(rows, where / bundle_files.CURVES)
        bundle_files.save_bundle(where, manifest, vocab, get_arrays(model, arch))  # the manifest last
        return manifest

    # every improving epoch is written at once: a run stopped any way (a session's end, SIGKILL)
    # resumes from its best epoch with `liveplay train` on the same DIR
    monitor = "val_loss" if val_ds is not None else "loss"
    keeper, epoch_log = _callbacks(monitor, t.patience, offset, K,
                                   on_best=lambda k: (write(k), log.info("checkpoint: %s", target.path)))
    if carried is not None:
        keeper.load_state(carried, backup)
    elif resumed is not None and monitor in resumed.manifest.training.best and not reframed:
        # a resumed run beats its own best or keeps it: an epoch worse than the bundle's is not written
        keeper.carry(model, resumed.manifest.training.best_epoch, resumed.manifest.training.best)
    interactive = sys.stderr.isatty()
    callbacks = [keeper] if interactive else [keeper, epoch_log]
    if backup is not None:  # a worker killed and started again goes on from its last finished epoch
        # Keras' backup first: the trainer's state may lag it by an epoch (a row missing from the
        # history), never lead it (an epoch counted twice)
        callbacks += [K.callbacks.BackupAndRestore(str(backup / "keras"))]
        if cluster.chief:
            callbacks.append(_state_saver(K, backup, keeper, dict(history=history, offset=offset,
                                                                 previous_wall=previous_wall)))
    try:
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=1 if interactive else 0, shuffle=False,
                  callbacks=callbacks, steps_per_epoch=fit_steps)
    except KeyboardInterrupt:
        if not keeper.rows:
            raise
        log.warning("interrupted: writing the bundle with the best of %d finished epoch(s)", len(keeper.rows))
    keeper.restore(model)
    manifest = write(keeper)
    target.cleanup()
    if backup is not None and cluster.chief:
        shutil.rmtree(backup, ignore_errors=True)
    log.info("wrote %s (best epoch %d, %s) in %.0f s", target.path if cluster.chief else "nothing (not the chief)",
             manifest.training.best_epoch, ", ".join(f"{k} {v:.4f}" for k, v in keeper.best_row.items()),
             time.monotonic() - started)
    return manifest


def folder_weights(items) -> dict[str, float]:
    """train.folder_weights' 'FOLDER=W' items (checked by the config schema) as a mapping."""
    return {name: float(weight) for name, _, weight in (i.partition("=") for i in items)}


def _read_carried(backup: Path | None) -> dict | None:
    """The keeper's state an interrupted run left in its backup folder (``_state_saver``); None
    when there is none. Keras' BackupAndRestore restores the weights, optimiser and epoch."""
    if backup is None or not (backup / "keeper.json").is_file() or not (backup / "keras").is_dir():
        return None
    state = json.loads((backup / "keeper.json").read_text(encoding="utf-8"))
    log.info("an interrupted run left %s (%d epoch(s) recorded): going on from its backup", backup,
             state["offset"] + len(state["rows"]))
    return state


def _state_saver(keras, backup: Path, keeper, run: dict):
    """A callback that keeps the keeper's state (rows, best epoch, best weights) in ``backup``
    after every epoch, beside Keras' BackupAndRestore, so a restarted worker has all of it."""

    class StateSaver(keras.callbacks.Callback):
        saved_best = None

        def on_epoch_end(self, epoch, logs=None):
            backup.mkdir(parents=True, exist_ok=True)
            if keeper.best_weights is not None and keeper.best_epoch != self.saved_best:
                with bundle_files.replacing(backup / "best.npz") as tmp:
                    np.savez(tmp, *keeper.best_weights)
                self.saved_best = keeper.best_epoch
            state = dict(run, rows=keeper.rows, best=float(keeper.best), best_epoch=keeper.best_epoch,
                         best_row=keeper.best_row)
            with bundle_files.replacing(backup / "keeper.json") as tmp:
                tmp.write_text(json.dumps(state), encoding="utf-8")

    return StateSaver()


def _callbacks(monitor: str, patience: int, epochs_before: int, keras=None, on_best=None):
    """The best-weights keeper (with early stopping; ``on_best(keeper)`` after each improving
    epoch, while the model holds that epoch's weights) and the plain per-epoch log line.
    ``keras``: the Keras module the model is built with (default Keras 3).

    Defined here so that importing this module does not import Keras.
    """
    if keras is None:
        import keras

    class BestKeeper(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rows: list[dict] = []  # this run's epochs
            self.best = np.inf
            self.best_epoch = epochs_before  # counted from 1 over the whole history
            self.best_row: dict = {}
            self.best_weights = None

        def carry(self, model, best_epoch: int, best_row: dict):
            """Start from a resumed bundle's best: its epoch, figures and (the model's) weights."""
            self.best, self.best_epoch, self.best_row = best_row[monitor], best_epoch, dict(best_row)
            self.best_weights = model.get_weights()

        def load_state(self, state: dict, backup: Path):
            """Go on from an interrupted run's state (``_state_saver``)."""
            self.rows, self.best, self.best_epoch = list(state["rows"]), state["best"], state["best_epoch"]
            self.best_row = dict(state["best_row"])
            if (backup / "best.npz").is_file():
                with np.load(backup / "best.npz", allow_pickle=False) as z:
                    self.best_weights = [z[f"arr_{i}"] for i in range(len(z.files))]

        def on_epoch_end(self, epoch, logs=None):
            row = {k: float(v) for k, v in (logs or {}).items()}
            self.rows.append(row)
            value = row.get(monitor, np.inf)
            number = epochs_before + epoch + 1
            if value < self.best:
                self.best, self.best_epoch, self.best_row = value, number, row
                self.best_weights = self.model.get_weights()
                if on_best is not None:
                    on_best(self)
            elif number - max(self.best_epoch, epochs_before) >= patience:
                log.info("no %s improvement for %d epochs: stopping", monitor, patience)
                self.model.stop_training = True

        def restore(self, model):
            if self.best_weights is not None:
                model.set_weights(self.best_weights)

    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            log.info("epoch %d: %s", epochs_before + epoch + 1,
                     " ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items()))

    return BestKeeper(), EpochLog()


def plot_curves(history: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch, train and validation, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, ax in (("loss", ax1), ("accuracy", ax2)):
        ax.plot(epochs, [r.get(key) for r in history], label=f"train {key}")
        if any(f"val_{key}" in r for r in history):
            ax.plot(epochs, [r.get(f"val_{key}") for r in history], label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
