"""Duet music: the musician's part (the melody) and liveplay's (the accompaniment), step by step.

A duet model reads both parts in one token stream, interleaved by step: liveplay's token for step
k, then the musician's token for step k. A training sequence starts with a start *pair* of RESTs
(``duet_ids``), so with the context's own leading REST (``context.with_start``) every
accompaniment token sits at an even index and every melody token at an odd one::

    [REST, REST, acc_0, mel_0, acc_1, mel_1, ...]
     start pair  step 0        step 1

liveplay's token for step k+1 is predicted after the musician's token for step k. A live
context gets the same start pair from ``Context.reset(START_PRIME)``.

Parts of a multi-part piece (``split_parts``): every MIDI channel is one part (``liveplay
corpus`` writes each part of a score on its own channel); the melody is the part of the highest
mean pitch (ties: the first channel), the accompaniment all the other parts merged. Their
quantisation is ``music.midifile``'s (``midifile.read_duet``); a merged accompaniment keeps its
*lowest* ``max_notes`` pitches of a step (the bass and inner voices under the melody), the
melody its highest, as every other token does. Pure: takes and returns values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from liveplay.music.tokens import HOLD, REST, REST_ID, RawToken, transpose

ACCOMPANIMENT, MELODY = 0, 1  # index % 2 of a part's tokens in a duet sequence (with its start)
START_PRIME = (REST_ID,)  # a live context's prime: with the context's own REST, the start pair
# a live context started afresh *between* steps (CC reset-context: after one step's decision, before
# the next step's fold): the start pair, then our REST for the step about to be folded, so the
# musician's token that comes next lands at a melody index, as in training
RESTART_PRIME = (REST_ID, REST_ID)
# an accompaniment with fewer onsets than this share of the melody's is "nearly empty": no duet
MIN_ACCOMPANIMENT_SHARE = 0.1


@dataclass(frozen=True)
class Duet:
    """One piece's two parts as raw tokens of equal length: ``accompaniment`` (liveplay's part)
    and ``melody`` (the musician's)."""

    accompaniment: list[RawToken]
    melody: list[RawToken]

    def __post_init__(self):
        if len(self.accompaniment) != len(self.melody):
            raise ValueError(f"parts of {len(self.accompaniment)} and {len(self.melody)} steps")

    @property
    def parts(self) -> tuple[list[RawToken], list[RawToken]]:
        return self.accompaniment, self.melody

    def transposed(self, semitones: int) -> "Duet | None":
        """Both parts moved by ``semitones``; None when a pitch of either would leave 0..127."""
        acc, mel = transpose(self.accompaniment, semitones), transpose(self.melody, semitones)
        return None if acc is None or mel is None else Duet(acc, mel)

    def joined(self) -> list[RawToken]:
        """Both parts one after the other with a REST between (a key's histogram of the whole
        piece: ``keys.pitch_class_histogram`` of this is the sum of the two parts')."""
        return [*self.accompaniment, REST, *self.melody]


def interleave(accompaniment: Sequence[int], melody: Sequence[int]) -> list[int]:
    """``[acc_0, mel_0, acc_1, mel_1, ...]`` of two equally long parts."""
    if len(accompaniment) != len(melody):
        raise ValueError(f"parts of {len(accompaniment)} and {len(melody)} steps")
    out = [0] * (2 * len(melody))
    out[0::2], out[1::2] = accompaniment, melody
    return out


def duet_ids(accompaniment: Sequence[int], melody: Sequence[int]) -> list[int]:
    """The two parts' ids as a duet model reads them, *without* the context's leading REST
    (``with_start`` adds it): ``[REST, acc_0, mel_0, ...]``."""
    return [REST_ID, *interleave(accompaniment, melody)]


def deinterleave(ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """(accompaniment, melody) of a duet sequence that starts with its start pair
    (``with_start(duet_ids(...))``)."""
    if len(ids) % 2 or list(ids[:2]) != [REST_ID, REST_ID]:
        raise ValueError("a duet sequence starts with a pair of RESTs and has whole steps")
    return list(ids[2::2]), list(ids[3::2])


def ours_before_theirs(ids: Sequence[int]) -> list[int]:
    """liveplay's ids in a duet context that ends with a musician's token (a whole step), oldest
    first: every other id from the second last (the sampler's repetition test reads these)."""
    return list(ids)[-2::-2][::-1]


def is_accompaniment(index: int) -> bool:
    """Whether position ``index`` of a duet sequence (start pair included) holds liveplay's token."""
    return index % 2 == ACCOMPANIMENT


def split_parts(notes: Sequence) -> tuple[list, list] | str:
    """(melody notes, accompaniment notes) of ``notes`` (anything with ``.pitch`` and ``.channel``:
    ``midifile.Note``), or the reason there is no duet in them: one part only."""
    by_part: dict[int, list] = {}
    for n in notes:
        by_part.setdefault(n.channel, []).append(n)
    if len(by_part) < 2:
        return f"{len(by_part)} part(s): a duet needs a melody and an accompaniment"
    mean = {ch: sum(n.pitch for n in ns) / len(ns) for ch, ns in by_part.items()}
    top = max(sorted(by_part), key=lambda ch: mean[ch])  # max keeps the first of equals
    melody = by_part.pop(top)
    return melody, [n for ns in by_part.values() for n in ns]


def nearly_empty(accompaniment: Sequence[RawToken], melody: Sequence[RawToken]) -> str | None:
    """Why an accompaniment is too thin to learn from (None when it is not): fewer onsets than
    ``MIN_ACCOMPANIMENT_SHARE`` of the melody's."""
    acc, mel = (sum(1 for t in part if t not in (REST, HOLD)) for part in (accompaniment, melody))
    if acc < MIN_ACCOMPANIMENT_SHARE * mel:
        return f"accompaniment nearly empty ({acc} onsets under a melody of {mel})"
    return None
