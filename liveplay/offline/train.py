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
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from liveplay.config import Settings, to_dict
from liveplay.errors import DataError
from liveplay.model import bundle as bundle_files
from liveplay.model.bundle import Architecture, FileSplit, Grid, Manifest, Training
from liveplay.music.context import with_start
from liveplay.music.midifile import load_token_files
from liveplay.music.tokens import Coverage, Vocabulary, augment, transpose, transposition_table
from liveplay.offline.dataset import Split, make_windows, split_files, windows_with_sources
from liveplay.offline.musicality import tonic_shift
from liveplay.offline.progress import progress

log = logging.getLogger(__name__)


def train(data: Sequence[str | Path], out: str | Path, settings: Settings, epochs: int | None = None,
          command: str | None = None, base: str | Path | None = None) -> Manifest:
    """Train (or resume) a bundle in ``out``; returns the manifest written.

    ``base``: fine-tune that bundle on ``data`` -- its grid, vocabulary (chords outside it map to
    the nearest, and how many is logged and recorded) and weights are the start; the new files get
    a split of their own.
    """
    import tensorflow as tf

    from liveplay.model.keras_model import build_model, get_arrays, set_arrays

    started = time.monotonic()
    out = Path(out)
    g, t = settings.grid, settings.train
    epochs = epochs if epochs is not None else t.epochs
    resumed = None
    if (out / bundle_files.MANIFEST).exists():
        resumed = bundle_files.load_bundle(out)
        log.info("resuming from %s (its grid, vocabulary and split are kept)", out)
        grid, arch = resumed.grid, resumed.architecture
    elif base is not None:
        base = bundle_files.load_bundle(base)
        log.info("fine-tuning %s on new files: its grid, vocabulary and weights are the start", base.path)
        grid, arch = base.grid, base.architecture
    else:
        grid = Grid(g.steps_per_beat, g.max_notes, g.context_length)
        arch = None
    start_from = resumed or base

    loaded = load_token_files(data, grid.steps_per_beat, grid.max_notes, g.skip_drums, progress)
    by_name = {str(p): toks for p, toks in loaded}
    if resumed is not None:
        old = resumed.manifest.training.files
        known = set(old.validation) | set(old.test)
        split = Split(sorted(n for n in by_name if n not in known),
                      [n for n in old.validation if n in by_name], [n for n in old.test if n in by_name])
        if not split.train:
            raise DataError("resuming: none of the given files is a training file of this bundle")
    else:
        split = split_files(list(by_name), t.validation_fraction, t.test_fraction, t.split_seed)
    log.info("files: %d train, %d validation, %d test", len(split.train), len(split.validation),
             len(split.test))

    # transposition: every key as a training copy ("all"), or one random key per window and epoch
    shifts = list(range(min(t.transpose), max(t.transpose) + 1)) if t.transpose else [0]
    if t.augment == "normalise":  # every file in the reference key: the model learns one key's music
        by_name = {n: in_reference_key(toks, tonic_shift(toks)) for n, toks in by_name.items()}
        shifts = [0]
    train_seqs, train_folders = [], []
    for name in split.train:
        copies = [by_name[name]] if t.augment in ("random", "normalise") else augment([by_name[name]], t.transpose)
        train_seqs += copies
        train_folders += [Path(name).parent.name] * len(copies)
    vocab = start_from.vocab if start_from else Vocabulary.build(
        train_seqs, g.vocab_size, grid.max_notes, shifts if t.augment == "random" else (0,))
    if arch is None:
        m = settings.model
        arch = Architecture(len(vocab), m.embedding, m.hidden, m.layers, m.dropout)

    def coverage(names):
        total = Coverage(0, 0, 0)
        for n in names:
            total = total + vocab.coverage(by_name[n])
        return total

    cov = {k: coverage(v) for k, v in split.as_dict().items()}
    for k, c in cov.items():
        if c.tokens:
            log.info("vocabulary coverage, %s: %.1f%% of chords, %.1f%% of tokens", k,
                     100 * c.chord_share, 100 * c.token_share)

    train_ids = [with_start(vocab.encode(s)) for s in train_seqs]
    val_ids = [with_start(vocab.encode(by_name[n])) for n in split.validation]
    x_train, w_train, sources = windows_with_sources(train_ids, grid.context_length, t.window_stride)
    # share of a folder's windows taken each epoch (the folk songs would drown the harmony)
    weights = folder_weights(t.folder_weights)
    keep = np.array([weights.get(train_folders[i], 1.0) for i in sources], dtype=np.float32)
    x_val, w_val = make_windows(val_ids, grid.context_length, t.window_stride)
    if len(x_train) == 0:
        raise DataError("no training window could be made (files too short?)")
    log.info("windows: %d train (%d tokens%s), %d validation", len(x_train), sum(len(s) for s in train_ids),
             {"all": " after augmentation", "normalise": ", each file moved to a tonic of C"}.get(
                 t.augment, f", each in one of {len(shifts)} keys an epoch"),
             len(x_val))

    tf.keras.utils.set_random_seed(t.seed)

    table = tf.constant(transposition_table(vocab, shifts) if t.augment == "random" else np.zeros((0, 0), np.int32))

    def transposed(x, w, p):  # one random key for the whole window (inputs and targets alike)
        key = tf.random.uniform([], 0, len(shifts), dtype=tf.int32, seed=t.seed)
        return tf.gather(table[key], x), w, p

    def dataset(x, w, keep, train):
        ds = tf.data.Dataset.from_tensor_slices((x, w, keep))
        if train:
            ds = ds.shuffle(len(x), seed=t.seed, reshuffle_each_iteration=True)
            if t.folder_weights:
                ds = ds.filter(lambda x, w, p: tf.random.uniform([], seed=t.seed + 1) < p)
            if t.augment == "random":
                ds = ds.map(transposed)  # in order: seeded draws give the same keys every run
        ds = ds.map(lambda x, w, p: (x[:-1], x[1:], w))
        return ds.batch(t.batch_size).prefetch(tf.data.AUTOTUNE)

    train_ds = dataset(x_train, w_train, keep, True)
    val_ds = dataset(x_val, w_val, np.ones(len(x_val), np.float32), False) if len(x_val) else None

    if base is not None:
        outside = {k: c.chords - c.chords_in_vocab for k, c in cov.items()}
        log.info("chord onsets outside %s's vocabulary, mapped to the nearest: %s", base.name,
                 ", ".join(f"{n} of {cov[k].chords} ({k})" for k, n in outside.items() if cov[k].tokens))

    model = build_model(arch, seed=t.seed)
    if start_from is not None:
        set_arrays(model, arch, start_from.weights)
    model.compile(optimizer=tf.keras.optimizers.Adam(t.learning_rate),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=["accuracy"])

    history_path = out / bundle_files.HISTORY
    history = json.loads(history_path.read_text()) if resumed and history_path.exists() else []
    if resumed is not None:  # the manifest is written last: rows past its epochs are from a torn checkpoint
        history = history[: resumed.manifest.training.epochs_run]
    offset = len(history)
    previous_wall = resumed.manifest.training.wall_time_s if resumed else 0.0
    fine_tuned_from = outside_vocabulary = None
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
            windows={"train": int(len(x_train)), "validation": int(len(x_val))},
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
        )
        manifest = Manifest(out.name, arch, grid, training,
                            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), files=bundle_files.FILES)
        out.mkdir(parents=True, exist_ok=True)
        with bundle_files.replacing(out / bundle_files.KERAS) as tmp:
            model.save(tmp)
        with bundle_files.replacing(history_path) as tmp:
            tmp.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
        plot_curves(rows, out / bundle_files.CURVES)
        bundle_files.save_bundle(out, manifest, vocab, get_arrays(model, arch))  # the manifest last
        return manifest

    # every improving epoch is written at once: a run stopped any way (a session's end, SIGKILL)
    # resumes from its best epoch with `liveplay train` on the same DIR
    monitor = "val_loss" if val_ds is not None else "loss"
    keeper, epoch_log = _callbacks(monitor, t.patience, offset,
                                   on_best=lambda k: (write(k), log.info("checkpoint: %s", out)))
    if resumed is not None and monitor in resumed.manifest.training.best:
        # a resumed run beats its own best or keeps it: an epoch worse than the bundle's is not written
        keeper.carry(model, resumed.manifest.training.best_epoch, resumed.manifest.training.best)
    interactive = sys.stderr.isatty()
    callbacks = [keeper] if interactive else [keeper, epoch_log]
    try:
        model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=1 if interactive else 0, shuffle=False,
                  callbacks=callbacks)
    except KeyboardInterrupt:
        if not keeper.rows:
            raise
        log.warning("interrupted: writing the bundle with the best of %d finished epoch(s)", len(keeper.rows))
    keeper.restore(model)
    manifest = write(keeper)
    log.info("wrote %s (best epoch %d, %s) in %.0f s", out, manifest.training.best_epoch,
             ", ".join(f"{k} {v:.4f}" for k, v in keeper.best_row.items()), time.monotonic() - started)
    return manifest


def in_reference_key(tokens: list, shift: int) -> list:
    """The tokens moved by ``shift`` semitones; as they are where that would leave 0..127."""
    moved = transpose(tokens, shift)
    return tokens if moved is None else moved


def folder_weights(items) -> dict[str, float]:
    """train.folder_weights' 'FOLDER=W' items (checked by the config schema) as a mapping."""
    return {name: float(weight) for name, _, weight in (i.partition("=") for i in items)}


def _callbacks(monitor: str, patience: int, epochs_before: int, on_best=None):
    """The best-weights keeper (with early stopping; ``on_best(keeper)`` after each improving
    epoch, while the model holds that epoch's weights) and the plain per-epoch log line.

    Defined here so that importing this module does not import Keras.
    """
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
