"""Training data read into memory: MIDI files -> split, vocabulary, windows, two tf.data pipelines.

The path `liveplay train DATA...` has always taken (a prepared folder streams instead:
``offline.stream``). Resuming keeps the bundle's split and vocabulary; fine-tuning keeps the
base's vocabulary and gives the new files a split of their own.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from liveplay.config import Settings
from liveplay.errors import DataError
from liveplay.model.bundle import FileSplit, Grid
from liveplay.model.keyframe import SOLO_FRAME, KeyFrame
from liveplay.music.context import with_start
from liveplay.music.duet import duet_ids
from liveplay.music.midifile import load_token_files, read_duet, read_tokens
from liveplay.music.keys import tonic_shift
from liveplay.music.tokens import REST, Coverage, Vocabulary, transpose, transposition_table
from liveplay.offline.dataset import (Split, keep_split, make_windows, split_files, weighted_copies,
                                      windows_with_sources)
from liveplay.offline.listening import PRIME_BEATS
from liveplay.offline.progress import progress

log = logging.getLogger(__name__)


def memory_data(tf, data, settings: Settings, resumed, base, global_batch: int, weights: dict, shifts: list,
                kept: FileSplit | None = None):
    """MIDI files read into memory: grid, architecture (a resumed or base bundle's), vocabulary,
    split, coverage, window counts and the two tf.data pipelines. ``kept``: an earlier model's split,
    kept for the files it names (``dataset.keep_split``; a new run only)."""
    g, t = settings.grid, settings.train
    start_from = resumed or base
    if start_from is not None:
        grid, arch = start_from.grid, start_from.architecture
    else:
        grid, arch = Grid(g.steps_per_beat, g.max_notes, g.context_length, g.voicing), None
    duet = t.kind == "duet"
    loaded = load_token_files(data, grid.steps_per_beat, grid.max_notes, g.skip_drums, progress,
                              read=read_duet if duet else read_tokens, voicing=grid.voicing)
    # every file as its parts: (tokens,) of one stream, or a duet's (accompaniment, melody)
    by_name = {str(p): (toks.parts if duet else (toks,)) for p, toks in loaded}
    if resumed is not None:
        old = resumed.manifest.training.files
        known = set(old.validation) | set(old.test)
        split = Split(sorted(n for n in by_name if n not in known),
                      [n for n in old.validation if n in by_name], [n for n in old.test if n in by_name])
        if not split.train:
            raise DataError("resuming: none of the given files is a training file of this bundle")
        if resumed.manifest.training.settings.get("validation_min", 0) != t.validation_min:
            log.warning("resuming keeps the bundle's split: train.validation_min %d does not apply to it",
                        t.validation_min)
    elif kept is not None:
        split = keep_split(list(by_name), kept, t.validation_fraction, t.test_fraction, t.split_seed,
                           t.validation_min)
    else:
        split = split_files(list(by_name), t.validation_fraction, t.test_fraction, t.split_seed, t.validation_min)
    log.info("files: %d train, %d validation, %d test", len(split.train), len(split.validation),
             len(split.test))

    if t.augment == "normalise":  # every file in the reference key: the model learns one key's music
        by_name = {n: parts_in_reference_key(parts) for n, parts in by_name.items()}
        shifts = [0]
    elif t.augment == "frame":  # every step in the frame the daemon would hear it in
        by_name = {n: (as_trained("frame", parts[0], grid.steps_per_beat),) for n, parts in by_name.items()}
        shifts = [0]
    # transposition: every key as a training copy ("all"), or one random key per window and epoch
    train_files, train_folders = [], []
    for name in split.train:
        copies = [by_name[name]] if t.augment in ("random", "normalise", "frame") else transposed_copies(by_name[name], t.transpose)
        train_files += copies
        train_folders += [Path(name).parent.name] * len(copies)
    vocab = start_from.vocab if start_from else Vocabulary.build(  # one vocabulary over every part
        [part for parts in train_files for part in parts], g.vocab_size, grid.max_notes,
        shifts if t.augment == "random" else (0,), grid.voicing)

    def coverage(names):
        total = Coverage(0, 0, 0)
        for n in names:
            for part in by_name[n]:
                total = total + vocab.coverage(part)
        return total

    def ids(parts):  # the sequence the model reads, its start included
        return with_start(duet_ids(*map(vocab.encode, parts)) if duet else vocab.encode(parts[0]))

    align = 2 if duet else 1  # a duet's windows start on a step's accompaniment token
    cov = {k: coverage(v) for k, v in split.as_dict().items()}
    train_ids = [ids(parts) for parts in train_files]
    val_ids = [ids(by_name[n]) for n in split.validation]
    x_train, w_train, sources = windows_with_sources(train_ids, grid.context_length, t.window_stride, align)
    # share of a folder's windows taken each epoch (the folk songs would drown the harmony)
    # (a weight above 1: the folder's windows more than once an epoch)
    distinct = len(x_train)
    rows, keep = weighted_copies([weights.get(train_folders[i], 1.0) for i in sources])
    x_train, w_train = x_train[rows], w_train[rows]
    x_val, w_val = make_windows(val_ids, grid.context_length, t.window_stride, align)
    if len(x_train) == 0:
        raise DataError("no training window could be made (files too short?)")
    log.info("windows: %d train (%d tokens%s), %d validation", distinct, sum(len(i) for i in train_ids),
             {"all": " after augmentation", "normalise": ", each file moved to a tonic of C",
              "frame": ", each step moved to a tonic of C by the key heard up to it"}.get(
                 t.augment, f", each in one of {len(shifts)} keys an epoch"),
             len(x_val))

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
        return ds.batch(global_batch).prefetch(tf.data.AUTOTUNE)

    train_ds = dataset(x_train, w_train, keep, True)
    val_ds = dataset(x_val, w_val, np.ones(len(x_val), np.float32), False) if len(x_val) else None
    n_windows = {"train": int(distinct), "validation": int(len(x_val))}
    return grid, arch, vocab, split, cov, n_windows, train_ds, val_ds


def in_reference_key(tokens: list) -> list:
    """The tokens moved to a tonic of C by their own key (``music.keys.tonic_shift``); as they are
    where that would leave 0..127."""
    return parts_in_reference_key((tokens,))[0]


def parts_in_reference_key(parts: tuple) -> tuple:
    """A piece's parts moved together to a tonic of C by the key of the whole piece (all parts'
    pitch classes); as they are where a pitch of any part would leave 0..127."""
    whole = [t for part in parts for t in (*part, REST)]  # REST: no chord sounds across a seam
    shift = tonic_shift(whole)
    moved = [transpose(part, shift) for part in parts]
    return parts if any(m is None for m in moved) else tuple(moved)


def in_play_frames(tokens: list, prime_steps: int) -> list:
    """The tokens moved, step by step, into the key frame the daemon would hear them in
    (``model.keyframe``, ``train.augment: frame``).

    The first ``prime_steps`` by the key of those steps, taken at once as a prime's is (``generate
    --prime``; the daemon, from silence, follows each estimate until 8 steps have sounded); each
    step after them by the shift a ``KeyFrame`` of the main engine's (``SOLO_FRAME``) holds once it
    has heard it: the key of the last 128 steps, moved when another has lasted 32. Moved by the
    whole piece's key instead (``in_reference_key``), a piece whose first bars are heard in another
    key than the whole -- a trecento ballata is, half the time: a fourth, a fifth or a third away
    -- trains the model on music in a frame it is never played in. A step that would leave 0..127
    in its frame: the whole file as ``in_reference_key`` leaves it (where the daemon would leave
    that one step unmoved: a file's edge case, not worth a frame of its own).
    """
    frame = KeyFrame(**SOLO_FRAME)
    shift = frame.reset([REST, *tokens[:prime_steps]])  # a context starts with REST (with_start)
    out = []
    for i, token in enumerate(tokens):
        if i >= prime_steps:
            shift = frame.hear(token)
        moved = transpose([token], shift)
        if moved is None:
            return in_reference_key(tokens)
        out.append(moved[0])
    return out


def as_trained(augment: str, tokens: list, steps_per_beat: int) -> list:
    """A file's tokens in the frame a model trained with ``augment`` learned in (as they are
    unless it trained in a key frame)."""
    if augment == "frame":
        return in_play_frames(tokens, PRIME_BEATS * steps_per_beat)
    return in_reference_key(tokens) if augment == "normalise" else tokens


def transposed_copies(parts: tuple, semitones) -> list[tuple]:
    """``tokens.augment`` for a piece's parts: every transposition from min(semitones) to
    max(semitones) at which every part fits 0..127, all parts moved alike."""
    lo, hi = (min(semitones), max(semitones)) if semitones else (0, 0)
    out = []
    for s in range(lo, hi + 1):
        moved = [transpose(part, s) for part in parts]
        if all(m is not None for m in moved):
            out.append(tuple(moved))
    return out
