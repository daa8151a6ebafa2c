"""The accompanist's ear: a duet model's choice of chord bent toward the melody it plays under.

A duet model (``music.duet``) learns *when* to play under a melody far sooner than *which*
chord: after 13 and after 32 epochs on two cores its simultaneous intervals with the melody
were consonant about as often as another piece's accompaniment would be (models/duet/README.md).
What an accompanist does first -- stay in the tune's key, sound consonant with the note the
tune holds, leave the tune's note to the tune -- is cheap to say in pitch classes, so, as a
product of experts, each chord's probability is multiplied by

    exp(weight * (KEY * key_fit + CONSONANCE * consonance - DOUBLING * doubles))

and the chords renormalised to the mass they had: REST and HOLD keep the model's
probabilities, so the model still decides *when*, and the ear re-weighs *which*.

- ``key_fit``: the sum over the chord's pitch classes of log(12 * profile[pc]), the profile the
  steps each pitch class of the melody sounds in the window (add-one smoothed): 0 for a tune
  that uses every class alike. A sum, not a mean: a triad of the tune's scale is more evidence
  of its key than one of its notes, and one note outside it costs a chord as much as a single
  note (the mean made a lone tonic as good as the tonic triad, and the ear thinned the chords
  out). Steps sounding, not onsets: a tune dwells on its tonic and fifth (at its cadences
  above all), and the key is heard, and measured (``music.keys``), from durations;
- ``consonance``: share of (chord pitch class, melody pitch class sounding now) pairs whose
  interval class, the melody's above the chord's, is consonant (``CONSONANT``: unison, thirds, fifth, sixths; not the fourth);
- ``doubles``: 1 when the chord holds a pitch class of the melody's sounding note.

"Now" is the musician's last step: the step liveplay's token will sound against is not heard
yet when it is decided (the step's input closes at the boundary), and a tune's note mostly
lasts longer than a sixteenth. Everything is read from the engine's own window, the melody's
tokens at the musician's positions (odd indices from the start pair), so the engine contract
holds: the distribution is a function of the window. Only liveplay's positions are bent (the
musician's token is never drawn). ``KEY``, ``CONSONANCE`` and ``DOUBLING`` were chosen on the
validation split's accompaniments as the daemon plays them (``scripts/duet_frame_sweep.py
--ear``: its melodies in their own keys, through the key frame); the likelihood of the real
accompaniments (``scripts/harmony_sweep.py``) asks for a gentler ear, and a consonance weight
only made them less likely, so it is 0. ``model.harmony`` scales them (0: off; shipped 2).
models/duet/README.md has the figures. Pure NumPy; wraps any ``Engine``.
"""

from __future__ import annotations

from collections import deque
import numpy as np

from liveplay.model.engine import Engine, Listener
from liveplay.music.tokens import FIRST_CHORD_ID, HOLD_ID, REST_ID, Vocabulary

CONSONANT = (0, 3, 4, 7, 8, 9)  # interval classes counted consonant (offline.duet_eval's figure)
KEY, CONSONANCE, DOUBLING = 1.5, 0.0, 3.5  # the experts' weights at model.harmony = 1 (duet_frame_sweep.py --ear)


def pitch_class_masks(vocab: Vocabulary) -> np.ndarray:
    """(ids, 12): 1 where a token id's chord holds that pitch class; REST and HOLD rows empty."""
    masks = np.zeros((len(vocab), 12))
    for i, chord in enumerate(vocab.chords):
        masks[FIRST_CHORD_ID + i, [p % 12 for p in chord]] = 1.0
    return masks


def engine_masks(vocab: Vocabulary, vocab_size: int) -> np.ndarray:
    """(vocab_size, 12): ``pitch_class_masks`` over an engine's ``vocab_size`` ids, those past the
    vocabulary's empty; a vocabulary larger than the engine's is refused."""
    if len(vocab) > vocab_size:
        raise ValueError(f"a vocabulary of {len(vocab)} ids for a model of {vocab_size}")
    masks = np.zeros((vocab_size, 12))
    masks[: len(vocab)] = pitch_class_masks(vocab)
    return masks


def sounding_ids(ids: np.ndarray) -> np.ndarray:
    """(steps,) the token sounding at each step of ``ids``: a HOLD is the token it holds; REST where
    nothing sounds (and for a HOLD whose onset is not in ``ids``)."""
    onset = np.maximum.accumulate(np.where(ids != HOLD_ID, np.arange(ids.size), -1))  # (steps,)
    return np.where(onset >= 0, ids[onset], REST_ID)


def key_fit(masks: np.ndarray, sounding: np.ndarray) -> np.ndarray:
    """(12,) log(12 * profile[pc]) for each pitch class, the profile the steps each class sounds in
    ``sounding`` (ids, ``sounding_ids``), add-one smoothed: 0 everywhere for music that uses every
    class alike, above 0 for the classes it dwells on. ``masks @ key_fit`` is each chord's fit."""
    profile = masks[sounding].sum(axis=0)  # (12,) steps each class sounds
    return np.log(12.0 * (profile + 1.0) / (profile.sum() + 12.0))


def bend(probs: np.ndarray, chords: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``probs`` with every chord's probability multiplied by exp(``bias``) and the chords
    renormalised to the mass they had (``chords``: which ids are chords): REST and HOLD keep theirs."""
    return rescale(probs, np.where(chords, np.exp(bias), 1.0), np.flatnonzero(~chords))


def rescale(probs: np.ndarray, factors: np.ndarray, others: np.ndarray) -> np.ndarray:
    """``bend`` given the factors themselves (1 at ``others``, the ids that are not chords): each
    probability times its factor, the chords back to the mass they had, ``others`` as they were.
    In few passes over the ids: the key keeper calls it at every decision (``model.inkey``)."""
    kept = probs[others]
    bent = probs * factors
    before, after = probs.sum() - kept.sum(), bent.sum() - kept.sum()  # the chords' mass
    if after > 0:
        bent *= before / after
    bent[others] = kept
    return bent / bent.sum()


def consonance_matrix() -> np.ndarray:
    """(12, 12): [a, m] = 1 when melody pitch class m over accompaniment pitch class a makes a
    consonant interval class (the accompaniment is under the tune: G over C is a fifth, C over G a
    fourth)."""
    d = (np.arange(12)[None, :] - np.arange(12)[:, None]) % 12
    return np.isin(d, CONSONANT).astype(np.float64)


class HarmonyEngine(Listener):
    """``Engine`` contract: a duet engine whose chords at liveplay's positions are bent toward
    the melody in its window (module docstring)."""

    def __init__(self, inner: Engine, vocab: Vocabulary, weight: float,
                 experts: tuple[float, float, float] = (KEY, CONSONANCE, DOUBLING)):
        if weight < 0:
            raise ValueError(f"harmony weight {weight} is negative")
        self.masks = engine_masks(vocab, inner.vocab_size)
        super().__init__(inner, f"{inner.name} + harmony {weight:g}")
        self.weight = float(weight)
        self.key, self.consonance, self.doubling = (float(e) * self.weight for e in experts)
        self.sizes = np.maximum(self.masks.sum(axis=1), 1.0)  # pitch classes of each chord
        self.chords = self.masks.any(axis=1)  # ids that are chords
        self.cons = consonance_matrix()
        self.melody: deque[int] = deque(maxlen=inner.context_length // 2)  # the window's melody ids
        self.n = 0  # tokens pushed since reset (the start pair included)

    def _forget(self, before: int) -> None:
        self.n = before  # the parity of what comes next: the start pair and every token before
        self.melody.clear()

    def _hear(self, token: int) -> None:
        if self.n % 2 == 1:  # odd index: the musician's
            self.melody.append(token)
        self.n += 1

    def ours_next(self) -> bool:
        """Whether the next token is liveplay's (even index)."""
        return self.n % 2 == 0

    def sounding_ids(self) -> np.ndarray:
        """(melody steps,) the melody's token sounding at each step of the window."""
        return sounding_ids(np.fromiter(self.melody, dtype=np.int64, count=len(self.melody)))

    def sounding(self, ids: np.ndarray | None = None) -> np.ndarray:
        """(12,) the pitch classes of the melody's note at its last step (held notes included);
        ``ids``: ``sounding_ids()`` when the caller has it."""
        ids = self.sounding_ids() if ids is None else ids
        return self.masks[ids[-1]] if ids.size else np.zeros(12)

    def features(self) -> np.ndarray:
        """(3, ids): every chord's key fit, consonance with the melody now, and whether it doubles
        it (module docstring); 0 for REST and HOLD, and the last two 0 while the melody rests."""
        masks = self.masks
        out = np.zeros((3, self.vocab_size))
        ids = self.sounding_ids()
        out[0] = masks @ key_fit(masks, ids)
        now = self.sounding(ids)
        if now.any():
            out[1] = (masks @ (self.cons @ now / now.sum())) / self.sizes
            out[2] = (masks @ now) > 0
        out[:, ~self.chords] = 0.0
        return out

    def bias(self) -> np.ndarray:
        """(ids,) the log-factor every chord's probability is multiplied by (0 for REST, HOLD)."""
        return np.array([self.key, self.consonance, -self.doubling]) @ self.features()

    def _answer(self, probs: np.ndarray) -> np.ndarray:
        if self.weight == 0 or not self.ours_next():
            return probs
        return bend(probs, self.chords, self.bias())
