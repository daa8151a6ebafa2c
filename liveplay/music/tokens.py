"""The step grid's tokens and the chord vocabulary.

Every grid step holds one token (DESIGN.md):

- a chord onset: the sorted absolute MIDI pitches that start in the step, at most
  ``max_notes`` of them -- a single note is a one-note chord. Which are kept is the
  *voicing* (``VOICINGS``): ``highest``, the highest ``max_notes``; ``outer``, the bass and
  the highest ``max_notes - 1`` (the outer voices and what lies just under the top, so a
  cut chord keeps its bass line and its inversion);
- ``HOLD``: whatever sounds keeps sounding;
- ``REST``: silence.

Before a vocabulary exists a token is ``REST``, ``HOLD`` or a tuple of pitches
("raw" tokens). The vocabulary turns them into integer ids: 0 = REST, 1 = HOLD,
2.. = chords, most frequent first. A chord outside the vocabulary maps to the
nearest vocabulary chord by ``chord_distance`` (below); it never raises.

Nearest-chord distance, in semitones: every pitch of one chord is charged its
distance to the nearest pitch of the other, both ways round, plus 3 per note of
difference in size::

    d(a, b) = sum_{p in a} min_{q in b} |p - q| + sum_{q in b} min_{p in a} |p - q|
              + 3 * | |a| - |b| |

It is 0 only for equal chords, symmetric, and keeps register (a C major triad two
octaves up is far from the one in the middle). Ties go to the more frequent
chord (lower id), so the mapping is deterministic.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence, Union

import numpy as np

from liveplay.config import VOICINGS

REST = "REST"
HOLD = "HOLD"
REST_ID = 0
HOLD_ID = 1
FIRST_CHORD_ID = 2
SIZE_PENALTY = 3
FAR = 10_000  # a padding pitch in the nearest search: farther from 0..127 than any two pitches

Chord = tuple[int, ...]
RawToken = Union[str, Chord]

VOCAB_FORMAT = 1


def check_voicing(voicing: str) -> None:
    """ValueError unless ``voicing`` is one of ``VOICINGS``."""
    if voicing not in VOICINGS:
        raise ValueError(f"voicing must be one of {', '.join(VOICINGS)} (got {str(voicing)[:20]!r})")


def make_chord(pitches: Iterable[int], max_notes: int, voicing: str = "highest") -> Chord:
    """Sorted unique pitches, at most ``max_notes`` of them, kept by ``voicing`` (module
    docstring). Cutting a chord already cut the same way gives it back unchanged."""
    check_voicing(voicing)
    unique = sorted({int(p) for p in pitches if 0 <= int(p) <= 127})
    if len(unique) <= max_notes:
        return tuple(unique)
    if voicing == "outer" and max_notes > 1:
        return (unique[0], *unique[len(unique) - max_notes + 1:])
    return tuple(unique[-max_notes:])


def chord_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """The documented nearest-chord distance (module docstring)."""
    if not a or not b:
        raise ValueError("chords have at least one pitch")
    one = sum(min(abs(p - q) for q in b) for p in a)
    two = sum(min(abs(p - q) for p in a) for q in b)
    return one + two + SIZE_PENALTY * abs(len(a) - len(b))


def describe(token: RawToken) -> str:
    """A short human name: 'REST', 'HOLD', 'C4', 'C4-E4-G4'."""
    if token in (REST, HOLD):
        return token
    return "-".join(pitch_name(p) for p in token)


NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def pitch_name(pitch: int) -> str:
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


@dataclass(frozen=True)
class Coverage:
    """How much of a token sequence the vocabulary holds exactly."""

    chords: int  # chord onsets seen
    chords_in_vocab: int  # of those, exactly in the vocabulary
    tokens: int  # all tokens (REST/HOLD always covered)

    @property
    def chord_share(self) -> float:
        return self.chords_in_vocab / self.chords if self.chords else 1.0

    @property
    def token_share(self) -> float:
        missing = self.chords - self.chords_in_vocab
        return 1.0 - missing / self.tokens if self.tokens else 1.0

    def __add__(self, other: "Coverage") -> "Coverage":
        return Coverage(self.chords + other.chords, self.chords_in_vocab + other.chords_in_vocab,
                        self.tokens + other.tokens)


class Vocabulary:
    """Chords <-> ids, with nearest mapping for chords it does not hold."""

    def __init__(self, chords: Sequence[Chord], max_notes: int, counts: Sequence[int] | None = None,
                 voicing: str = "highest"):
        check_voicing(voicing)
        self.chords: list[Chord] = [tuple(int(p) for p in c) for c in chords]
        self.max_notes = int(max_notes)
        self.voicing = voicing
        self.counts = list(counts) if counts is not None else [0] * len(self.chords)
        self._ids = {c: i + FIRST_CHORD_ID for i, c in enumerate(self.chords)}
        if len(self._ids) != len(self.chords):
            raise ValueError("vocabulary chords must be distinct")
        width = max([len(c) for c in self.chords] + [1])
        # (width, V) for the vectorised nearest search: each chord's pitches down a column, padded
        # with FAR (farther from any pitch than two pitches can be), and where a pitch is
        self._pitches = np.full((width, len(self.chords)), FAR, dtype=np.int32)
        for i, c in enumerate(self.chords):
            self._pitches[: len(c), i] = c
        self._held = self._pitches != FAR  # (width, V)
        self._sizes = self._held.sum(axis=0)  # (V,)
        self._nearest = lru_cache(maxsize=8192)(self._nearest_uncached)

    def __len__(self) -> int:
        """Number of token ids (REST and HOLD included)."""
        return len(self.chords) + FIRST_CHORD_ID

    @classmethod
    def build(cls, sequences: Iterable[Sequence[RawToken]], size: int, max_notes: int,
              shifts: Sequence[int] = (0,), voicing: str = "highest") -> "Vocabulary":
        """The ``size`` most frequent chords of ``sequences`` (cut to ``max_notes`` by ``voicing``),
        each counted at every transposition in ``shifts`` that fits 0..127 (ties: lower pitches first)."""
        found: Counter = Counter()
        for seq in sequences:
            found.update(make_chord(t, max_notes, voicing) for t in seq if t not in (REST, HOLD))
        return cls.from_counts(found, size, max_notes, shifts, voicing)

    @classmethod
    def from_counts(cls, found: "Counter[Chord]", size: int, max_notes: int,
                    shifts: Sequence[int] = (0,), voicing: str = "highest") -> "Vocabulary":
        """``build`` from chord counts already made (``offline.shards`` keeps them per file)."""
        counts: Counter = Counter()
        for chord, n in found.items():
            for s in shifts:
                if 0 <= chord[0] + s and chord[-1] + s <= 127:
                    counts[tuple(p + s for p in chord)] += n
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
        return cls([c for c, _ in ranked], max_notes, [n for _, n in ranked], voicing)

    # -- mapping ---------------------------------------------------------------------------

    def encode_token(self, token: RawToken) -> int:
        """Id of a raw token; a chord outside the vocabulary maps to the nearest one."""
        if token == REST:
            return REST_ID
        if token == HOLD:
            return HOLD_ID
        chord = self.cut(token)
        if not chord:
            return REST_ID
        found = self._ids.get(chord)
        return found if found is not None else self._nearest(chord)

    def encode(self, tokens: Iterable[RawToken]) -> list[int]:
        return [self.encode_token(t) for t in tokens]

    def decode_token(self, token_id: int) -> RawToken:
        if token_id == REST_ID:
            return REST
        if token_id == HOLD_ID:
            return HOLD
        return self.chords[token_id - FIRST_CHORD_ID]

    def decode(self, ids: Iterable[int]) -> list[RawToken]:
        return [self.decode_token(int(i)) for i in ids]

    def contains(self, token: RawToken) -> bool:
        if token in (REST, HOLD):
            return True
        return self.cut(token) in self._ids

    def cut(self, pitches: Iterable[int]) -> Chord:
        """``pitches`` as one of this vocabulary's chord shapes: at most ``max_notes``, by its voicing."""
        return make_chord(pitches, self.max_notes, self.voicing)

    def coverage(self, tokens: Sequence[RawToken]) -> Coverage:
        chords = [t for t in tokens if t not in (REST, HOLD)]
        inside = sum(1 for c in chords if self.contains(c))
        return Coverage(len(chords), inside, len(tokens))

    def _nearest_uncached(self, chord: Chord) -> int:
        if not self.chords:
            return REST_ID
        a = np.asarray(chord, dtype=np.int32)  # (k,)
        # the vocabulary's axis last: every reduction runs along V-long rows (20x faster than last-axis
        # reductions over a chord's few notes; the daemon meets a new chord at some steps)
        diff = np.abs(self._pitches[:, None, :] - a[None, :, None])  # (W, k, V)
        from_a = diff.min(axis=0).sum(axis=0)  # each of the chord's notes to the nearest held pitch  (V,)
        from_b = (diff.min(axis=1) * self._held).sum(axis=0)  # each held pitch to the nearest note  (V,)
        size = SIZE_PENALTY * np.abs(self._sizes - len(a))  # (V,)
        return int(np.argmin(from_a + from_b + size)) + FIRST_CHORD_ID

    # -- as data ---------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "format": VOCAB_FORMAT,
            "special": [REST, HOLD],
            "max_notes": self.max_notes,
            "chords": [list(c) for c in self.chords],
            "counts": self.counts,
        } | ({} if self.voicing == "highest" else {"voicing": self.voicing})  # older files have none

    @classmethod
    def from_json(cls, data) -> "Vocabulary":
        """The vocabulary of ``to_json``'s data; ValueError says what is wrong."""
        try:
            if data.get("format") != VOCAB_FORMAT:
                raise ValueError(f"vocabulary format {data.get('format')!r}, expected {VOCAB_FORMAT}")
            if data.get("special") != [REST, HOLD]:
                raise ValueError("special tokens must be ['REST', 'HOLD']")
            max_notes, chords, counts = data["max_notes"], data["chords"], data.get("counts")
            voicing = data.get("voicing", "highest")  # vocabularies before voicings kept the highest
            if not isinstance(max_notes, int) or isinstance(max_notes, bool) or not 1 <= max_notes <= 16:
                raise ValueError(f"max_notes must be a whole number from 1 to 16 (got {str(max_notes)[:20]!r})")
            if not isinstance(chords, list):
                raise ValueError("chords must be a list")
            seen: dict[tuple, int] = {}
            for i, c in enumerate(chords):
                shown = f"chords[{i}] {str(c)[:40]}"  # a chord of a million pitches is not echoed whole
                if isinstance(c, list) and len(c) > max_notes:
                    raise ValueError(f"{shown} has more than max_notes ({max_notes}) notes")
                if not isinstance(c, list) or not c or any(  # true is an int to Python, not a pitch
                        not isinstance(p, int) or isinstance(p, bool) or not 0 <= p <= 127 for p in c):
                    raise ValueError(f"{shown} is not a list of MIDI pitches")
                if c != sorted(set(c)):
                    raise ValueError(f"{shown} is not sorted and distinct")
                if seen.setdefault(tuple(c), i) != i:
                    raise ValueError(f"{shown} repeats chords[{seen[tuple(c)]}]")
            if counts is not None and (not isinstance(counts, list) or len(counts) != len(chords) or not all(
                    isinstance(n, int) and not isinstance(n, bool) for n in counts)):
                raise ValueError("counts must be a whole number for each chord")
            return cls([tuple(c) for c in chords], max_notes, counts, voicing)
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"bad vocabulary: {err}") from err


# -- tokens as notes ---------------------------------------------------------------------------


def sounding(tokens: Sequence[RawToken]) -> list[tuple[int, ...]]:
    """The pitches sounding at each step: a chord from its step until the next chord or REST."""
    out, now = [], ()
    for t in tokens:
        now = () if t == REST else now if t == HOLD else tuple(t)
        out.append(now)
    return out


def note_changes(sounding: Chord, token: RawToken) -> tuple[Chord, Chord]:
    """(pitches to end, pitches to start) when ``token`` comes while ``sounding`` sounds.

    HOLD changes nothing; REST ends what sounds; a chord ends what sounds and starts its own
    pitches (a repeated pitch is re-struck: its note-off comes before its note-on). The one rule
    for both the live note writer and the MIDI-file writer.
    """
    if token == HOLD:
        return (), ()
    if token == REST:
        return tuple(sounding), ()
    return tuple(sounding), tuple(token)


# -- transposition -----------------------------------------------------------------------------


def transpose(tokens: Sequence[RawToken], semitones: int) -> list[RawToken] | None:
    """The tokens moved by ``semitones``; None when a pitch would leave 0..127."""
    out: list[RawToken] = []
    for t in tokens:
        if t in (REST, HOLD):
            out.append(t)
            continue
        moved = tuple(p + semitones for p in t)
        if moved[0] < 0 or moved[-1] > 127:
            return None
        out.append(moved)
    return out


def transposition_table(vocab: "Vocabulary", shifts: Sequence[int]) -> np.ndarray:
    """(len(shifts), V) ids: row i maps every token id to the id of its transposition by
    ``shifts[i]`` (the nearest chord when that is not in the vocabulary; a chord that would leave
    0..127 stays as it is). REST and HOLD map to themselves."""
    table = np.empty((len(shifts), len(vocab)), dtype=np.int32)  # (S, V)
    for i, s in enumerate(shifts):
        for token_id in range(len(vocab)):
            moved = transpose([vocab.decode_token(token_id)], s)
            table[i, token_id] = token_id if moved is None else vocab.encode_token(moved[0])
    return table


def augment(sequences: Sequence[Sequence[RawToken]], semitones: Sequence[int]) -> list[list[RawToken]]:
    """Every sequence at every transposition from min(semitones) to max(semitones) that fits."""
    lo, hi = (min(semitones), max(semitones)) if semitones else (0, 0)
    out = []
    for seq in sequences:
        for s in range(lo, hi + 1):
            moved = transpose(seq, s)
            if moved is not None:
                out.append(moved)
    return out


def chord_targets(vocab: "Vocabulary") -> np.ndarray:
    """(V,) True for the ids that are chords of two notes or more."""
    return np.array([t not in (REST, HOLD) and len(t) >= 2 for t in vocab.decode(range(len(vocab)))])
