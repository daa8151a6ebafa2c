"""The training data set: a by-file split and the windows the model learns from.

- Files are split **by file** into train / validation / test (seeded); no window is shared
  across splits, and the split is recorded in the manifest.
- Windows of ``length + 1`` token ids, every ``stride`` steps, are cut from each file (whose
  ids start with REST: ``music.context.with_start``); the model learns the next token at every
  position of a window, and padding at a file's end carries zero weight.
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from liveplay.errors import DataError
from liveplay.model.manifest import FileSplit
from liveplay.music.tokens import REST_ID

log = logging.getLogger(__name__)


@dataclass
class Split:
    train: list[str]
    validation: list[str]
    test: list[str]

    def as_dict(self) -> dict:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def split_files(names: Sequence[str], validation_fraction: float, test_fraction: float,
                seed: int, validation_min: int = 0) -> Split:
    """Seeded split by file; at least one validation file whenever there are three or more, and
    ``validation_min`` from each folder (``with_validation_min``)."""
    split = _split_files(names, validation_fraction, test_fraction, seed)
    return with_validation_min(split, validation_min, seed)


def _split_files(names: Sequence[str], validation_fraction: float, test_fraction: float, seed: int) -> Split:
    names = sorted(names)
    order = np.random.default_rng(seed).permutation(len(names))
    shuffled = [names[i] for i in order]
    n = len(names)
    n_test = round(n * test_fraction)
    n_val = round(n * validation_fraction)
    if n >= 3 and validation_fraction > 0:
        n_val = max(n_val, 1)
    if n - n_test - n_val < 1:
        raise DataError(f"{n} usable file(s) cannot be split into train, validation and test")
    return Split(sorted(shuffled[n_test + n_val:]), sorted(shuffled[n_test: n_test + n_val]),
                 sorted(shuffled[:n_test]))


def with_validation_min(split: Split, least: int, seed: int) -> Split:
    """``split`` with at least ``least`` validation files from each folder (``train.validation_min``),
    moved from that folder's training files; a folder keeps at least half of its training files, and
    no test file moves.

    One 5 % share drawn over the whole listening mix gave its 102 trecento pieces, beside some
    10 000 folk tunes, five validation pieces: too few to choose a setting by for them. The files moved are a draw,
    seeded by the seed and the folder's name, from the folder's own training files, so no other
    folder's files change it. "At most half": a folder with one training file gives none. Under
    ``keep_split`` the files moved were the earlier model's training files: compare the two
    models on the test files, or on the validation files they share (the count is logged).
    """
    if least <= 0:
        return split
    have = Counter(Path(name).parent.name for name in split.validation)
    pools: dict[str, list[str]] = {}
    for name in split.train:
        pools.setdefault(Path(name).parent.name, []).append(name)
    moved: set[str] = set()
    for f, pool in sorted(pools.items()):
        take = min(least - have[f], len(pool) // 2)
        if take > 0:
            pool.sort()  # the draw is of names, whatever order the split listed them in
            order = np.random.default_rng([seed, zlib.crc32(f.encode("utf-8"))]).permutation(len(pool))
            moved.update(pool[i] for i in order[:take])
    if moved:
        log.info("train.validation_min %d: %d training file(s) moved to validation", least, len(moved))
    return Split(sorted(n for n in split.train if n not in moved), sorted([*split.validation, *moved]),
                 list(split.test))


def keep_split(names: Sequence[str], old: Split | FileSplit, validation_fraction: float,
               test_fraction: float, seed: int, validation_min: int = 0) -> Split:
    """A split that keeps ``old``'s side for every file it names and splits the rest by ``split_files``.

    ``split_files`` permutes the sorted list of names, so adding or removing one file moves files
    between splits; a model trained on a changed corpus is compared with an earlier one on the same
    held-out files only when those files keep their side. Files ``old`` names that are gone are
    dropped; the new ones (fewer than three: all train) get a seeded split of their own. ``old``: a
    ``Split`` or a bundle manifest's ``FileSplit`` (the same three lists). ``validation_min``: then
    topped up from the training files (``with_validation_min``), so some of ``old``'s training files
    become validation files; the test files are ``old``'s.
    """
    side = {n: k for k, files in old.as_dict().items() for n in files}
    new = [n for n in names if n not in side]
    drawn = split_files(new, validation_fraction, test_fraction, seed) if len(new) >= 3 else Split(sorted(new), [], [])
    here = set(names)
    kept = {k: [n for n in files if n in here] for k, files in old.as_dict().items()}
    split = Split(sorted(kept["train"] + drawn.train), sorted(kept["validation"] + drawn.validation),
                  sorted(kept["test"] + drawn.test))
    return with_validation_min(split, validation_min, seed)


def weighted_copies(keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Windows weighted by their folder's ``train.folder_weights``: the rows each epoch draws from,
    and each row's chance of being taken.

    A weight w <= 1 is one copy taken with chance w; w > 1 is floor(w) copies always taken and, for a
    fraction left, one more taken with that chance -- so a window is used w times an epoch on
    average. Returns (rows (M,) int64 into the windows, chances (M,) float32).
    """
    keep = np.asarray(keep, dtype=np.float64)
    whole = np.floor(keep).astype(np.int64)
    part = keep - whole
    copies = whole + (part > 0)
    rows = np.repeat(np.arange(len(keep)), copies)
    nth = np.arange(len(rows)) - np.repeat(np.cumsum(copies) - copies, copies)  # 0 for a row's first copy
    chances = np.where(nth < whole[rows], 1.0, part[rows])
    return rows, chances.astype(np.float32)


def make_windows(sequences: Sequence[Sequence[int]], length: int, stride: int, align: int = 1
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``length + 1`` ids (inputs + shifted targets) and the targets' weights.

    Returns ids (N, length + 1) int32 and weights (N, length) float32, where the
    weight is 0 on padding past a file's end.
    """
    rows, weights, _ = windows_with_sources(sequences, length, stride, align)
    return rows, weights


def windows_with_sources(sequences: Sequence[Sequence[int]], length: int, stride: int, align: int = 1
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``make_windows``, and for each window the index of the sequence it was cut from (N,).

    ``align``: every window starts at a multiple of it (a duet's 2: on a step's first token, the
    accompaniment's, as the exact engine's windows do when it predicts one); ``stride`` must be a
    multiple, and the window at a file's end starts at the multiple below its own start."""
    if stride % align:
        raise ValueError(f"a window stride of {stride} does not keep windows aligned to {align}")
    rows, weights, sources = [], [], []
    for index, seq in enumerate(sequences):
        seq = np.asarray(seq, dtype=np.int32)
        if len(seq) < 2:
            continue
        last_start = max(0, len(seq) - length - 1)
        last_start -= last_start % align
        starts = list(range(0, last_start + 1, stride))
        if starts[-1] != last_start:
            starts.append(last_start)  # the file's end is always covered
        for s in starts:
            chunk = seq[s: s + length + 1]
            row = np.full(length + 1, REST_ID, dtype=np.int32)
            row[: len(chunk)] = chunk
            w = np.zeros(length, dtype=np.float32)
            w[: len(chunk) - 1] = 1.0
            rows.append(row)
            weights.append(w)
            sources.append(index)
    if not rows:
        return np.zeros((0, length + 1), np.int32), np.zeros((0, length), np.float32), np.zeros(0, np.int64)
    return np.stack(rows), np.stack(weights), np.asarray(sources)
