"""Musical figures of token sequences: key, pitch classes, chords, rhythm. Pure NumPy.

- **Key** by the Krumhansl-Schmuckler method (``music.keys``, here again for the offline
  figures): the histogram against 24 rotated profiles, Aarden-Essen as music21's ``analyze('key')``.
- **Pitch-class histogram**: every sounding pitch counts once per step it sounds (a chord held
  for two beats weighs four eighths); the cosine of two histograms says how alike their pitch
  material is.
- **Chord share**: the share of onsets that are chords (two notes or more).
- **Rhythm**: inter-onset intervals in steps, as a histogram over 1..``MAX_IOI`` (longer ones in
  the last bin); the overlap of two histograms is the sum of their bin-wise minima (1 = the same).
  The grid's quantisation loss of a file is the share of its note onsets the grid moves
  (``quantisation_loss``, from the notes themselves, before the grid).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from liveplay.music.keys import NAMES, WEIGHTS, key_name, key_of, pitch_class_histogram, profiles, tonic_shift
from liveplay.music.midifile import Note
from liveplay.music.tokens import HOLD, REST, RawToken

__all__ = ["NAMES", "WEIGHTS", "key_name", "key_of", "pitch_class_histogram", "profiles", "tonic_shift",
           "cosine", "onsets", "chord_share", "ioi_histogram", "overlap", "quantisation_loss"]

MAX_IOI = 16


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na and nb else 0.0


def onsets(tokens: Iterable[RawToken]) -> list[tuple[int, int]]:
    """(step, number of notes) of every chord onset."""
    return [(i, len(t)) for i, t in enumerate(tokens) if t not in (REST, HOLD)]


def chord_share(tokens: Sequence[RawToken]) -> float:
    found = onsets(tokens)
    return sum(n >= 2 for _, n in found) / len(found) if found else float("nan")


def ioi_histogram(tokens: Sequence[RawToken]) -> np.ndarray:
    """Inter-onset intervals in steps, bins 1..MAX_IOI (the last holds longer ones), normalised."""
    steps = [s for s, _ in onsets(tokens)]
    gaps = np.minimum(np.diff(steps), MAX_IOI) if len(steps) > 1 else np.zeros(0, dtype=int)
    hist = np.bincount(gaps, minlength=MAX_IOI + 1)[1:].astype(float)  # (MAX_IOI,)
    return hist / hist.sum() if hist.sum() else hist


def overlap(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.minimum(p, q).sum())


def quantisation_loss(notes: Sequence[Note], steps_per_beat: int, tolerance: float = 0.01) -> float:
    """Share of note onsets the grid moves: not within ``tolerance`` beats of a grid step."""
    if not notes:
        return float("nan")
    starts = np.array([n.start for n in notes]) * steps_per_beat  # in steps
    return float(np.mean(np.abs(starts - np.round(starts)) > tolerance * steps_per_beat))
