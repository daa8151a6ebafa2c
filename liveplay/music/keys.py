"""Which key music is in: the Krumhansl-Schmuckler method. Pure NumPy.

The duration-weighted pitch-class histogram is correlated (Pearson) with a major and a minor key
profile rotated to all 12 tonics; the best of the 24 is the key (tonic, mode). With the
Aarden-Essen profiles, as music21's ``analyze('key')`` does (tests/offline/test_musicality.py
compares the two on real pieces). Here, in ``music``, because the daemon needs it too: a
key-normalised model hears the music moved to a tonic of C (``model.keyframe``).
"""

from __future__ import annotations

from functools import cache
from typing import Sequence

import numpy as np

from liveplay.music.tokens import RawToken, sounding

# Key profiles, tonic first. Aarden-Essen (Aarden 2003, from the Essen folk songs) is what
# music21's ``analyze('key')`` uses by default; Krumhansl & Kessler's (1982) probe-tone profiles
# are the method's original ones.
WEIGHTS = {
    "aarden-essen": (
        np.array([17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624,
                  8.15494, 0.232998, 4.95122]),
        np.array([18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621,
                  1.93186, 7.37619, 1.75623])),
    "krumhansl-kessler": (
        np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88]),
        np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])),
}
NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def profiles(weights: str = "aarden-essen") -> np.ndarray:
    """The 24 key profiles (12 major tonics, then 12 minor): row k holds tonic k's weights."""
    major, minor = WEIGHTS[weights]
    return np.stack([np.roll(w, t) for w in (major, minor) for t in range(12)])  # (24, 12)


@cache
def _centred(weights: str) -> np.ndarray:
    """The profiles centred and scaled to unit norm, once: Pearson's r is then one product."""
    p = profiles(weights)
    p = p - p.mean(axis=1, keepdims=True)
    return p / np.linalg.norm(p, axis=1, keepdims=True)  # (24, 12)


def pitch_class_histogram(tokens: Sequence[RawToken]) -> np.ndarray:
    """Steps each pitch class sounds for: a chord sounds from its step until the next chord or REST."""
    hist = np.zeros(12)
    for pitches in sounding(tokens):
        for p in pitches:
            hist[p % 12] += 1
    return hist


def key_of(hist: np.ndarray, weights: str = "aarden-essen") -> tuple[int, str] | None:
    """(tonic pitch class, 'major' or 'minor') of a histogram, the best Pearson correlation of the
    24 profiles (ties: the first, major before minor); None for silence."""
    h = np.asarray(hist, dtype=float)  # (12,)
    if not h.any():
        return None
    # Pearson's r with unit-norm centred profiles is their product with the centred histogram over
    # its norm; the norm is the same for all 24, so the best key is the best product (a step of the
    # key frame costs one (24, 12) product)
    best = int(np.argmax(_centred(weights) @ (h - h.mean())))  # (24,)
    return best % 12, "major" if best < 12 else "minor"


def key_name(key: tuple[int, str] | None) -> str:
    return "none" if key is None else f"{NAMES[key[0]]} {key[1]}"


def tonic_shift(tokens: Sequence[RawToken]) -> int:
    """Semitones (-6..+5) that move the tokens' key (``key_of``) to a tonic of C, major or minor
    alike: the reference key of a key-normalised model. 0 for silence."""
    return histogram_shift(pitch_class_histogram(tokens))


def histogram_shift(hist: np.ndarray | Sequence[float]) -> int:
    """``tonic_shift`` of a pitch-class histogram (``model.keyframe`` keeps one up to date)."""
    key = key_of(np.asarray(hist, dtype=float))
    if key is None:
        return 0
    return -key[0] if key[0] <= 6 else 12 - key[0]
