"""Play time of a key-normalised model: the music moved to a tonic of C going in, back coming out.

A model trained with ``train.augment: normalise`` learned every piece moved to a tonic of C
(``music.keys.tonic_shift``): one key's music, all its capacity on harmony and melody rather than
on learning twelve keys. At play time ``for_play`` wraps the bundle's engine:

- the **play vocabulary** is every model chord at every one of the 12 shifts (the musician's
  chords and liveplay's answers, in concert pitch);
- ``KeyFrame`` keeps the key of the last ``steps`` steps heard (Krumhansl-Schmuckler, on a
  histogram kept up to date step by step) and moves its shift only when another key has been
  the estimate for ``hold`` steps running (hysteresis:
  a passing chromatic chord does not re-key the answer);
- ``KeyFrameEngine`` pushes each token moved by the current shift (the model's id of the nearest
  chord), and gives the model's distribution moved back, over the play vocabulary. History is
  never re-encoded when the shift moves: the model hears a modulation, and the window turns over
  within ``context_length`` steps (re-encoding would cost a whole window's steps in one).

Everything above the engine -- the performance, the sampler, ``Context``, generate -- works on
play-vocabulary ids as it does on any model's.
"""

from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np

from liveplay.model.bundle import Bundle
from liveplay.model.engine import Engine
from liveplay.music.duet import MELODY
from liveplay.music.keys import histogram_shift
from liveplay.music.tokens import HOLD, REST, RawToken, Vocabulary, transpose

SETTLE = 8  # sounding tokens heard before the key holds (KeyFrame.hear), unless a frame says otherwise
SHIFTS = tuple(range(-6, 6))  # tonic_shift's range: from any key to a tonic of C
# a duet's frame (its tokens: ours and the musician's in turn, the musician's counted): the key of
# the melody's last 128 steps, taken at once until 16 of them have sounded, then moved by another
# key that lasts 16 steps (32 tokens). Chosen on the validation melodies played in their own keys
# (scripts/duet_frame_sweep.py; models/duet/README.md): against the first frame (64 steps, 8, 32
# steps running) its answers were in the melody's key more often, and it follows a tune moved to
# another key as soon (a median of 90 steps against 86)
DUET_FRAME = {"steps": 128, "hold": 32, "settle": 16}


def key_normalised(bundle: Bundle) -> bool:
    """Trained with every file moved to a tonic of C (``train.augment: normalise``)."""
    return bundle.manifest.training.settings.get("augment") == "normalise"


def play_vocabulary(model: Vocabulary) -> Vocabulary:
    """Every model chord at every shift that fits 0..127, the model's own first (their ids kept)."""
    chords, seen = list(model.chords), set(model.chords)
    for s in SHIFTS:
        for chord in model.chords:
            moved = transpose([chord], -s)
            if moved is not None and moved[0] not in seen:
                seen.add(moved[0])
                chords.append(moved[0])
    return Vocabulary(chords, model.max_notes, voicing=model.voicing)


class KeyFrame:
    """The shift (semitones to a tonic of C) of the music heard, with hysteresis. Pure.

    The pitch-class histogram of the last ``steps`` tokens is kept up to date a token at a time
    (the one leaving the window is taken out, the new one put in), so a token costs one
    24-profile correlation, not a walk over the window (``benchmarks/engine.py`` times it).
    A token counts what sounds in it: a chord from its token until the next chord or REST of
    its part, as ``music.keys.pitch_class_histogram`` counts it. ``parts=2``: a duet model's
    interleaved stream (liveplay's token, then the musician's, each step), each part held on
    its own; the count of tokens since ``reset`` says whose a token is. ``listen``: the one part
    whose tokens count (a duet's key is the musician's: counting our own answers too, a frame
    that starts in C hears its C chords louder than their melody and never leaves C).
    """

    def __init__(self, steps: int = 128, hold: int = 32, parts: int = 1, listen: int | None = None,
                 settle: int = SETTLE):
        self.steps, self.hold, self.parts, self.listen, self.settle = steps, hold, parts, listen, settle
        self.window: deque[tuple[int, ...]] = deque()  # pitch classes sounding at each token
        self.hist = np.zeros(12)
        self.reset()

    def reset(self, tokens: Sequence[RawToken] = ()) -> int:
        """Forget, then hear ``tokens`` at once (a prime): its key is the shift, no waiting."""
        self.window.clear()
        self.hist[:] = 0
        self.sounding: list[tuple[int, ...]] = [()] * self.parts
        self.count = 0
        for token in tokens:
            self._count(token)
        self.shift = histogram_shift(self.hist)
        self.candidate, self.run = self.shift, 0
        self.settled = self._heard_enough()  # a key heard: from here on, another must last
        return self.shift

    def _heard_enough(self) -> bool:
        """Enough sounding tokens for a key (one note alone is read as the key it is the fifth of)."""
        return sum(1 for pcs in self.window if pcs) >= self.settle

    def _count(self, token: RawToken) -> None:
        part = self.count % self.parts
        self.count += 1
        if token == REST:
            self.sounding[part] = ()
        elif token != HOLD:
            self.sounding[part] = tuple(p % 12 for p in token)
        if self.listen is not None and part != self.listen:
            return
        if len(self.window) == self.steps:
            for pc in self.window.popleft():
                self.hist[pc] -= 1
        self.window.append(self.sounding[part])
        for pc in self.sounding[part]:
            self.hist[pc] += 1

    def hear(self, token: RawToken) -> int:
        """One more token heard; the shift after it. Until ``settle`` sounding tokens have been
        heard the estimate is taken at once; after that another key must be the estimate for
        ``hold`` tokens running before the shift moves."""
        self._count(token)
        estimate = histogram_shift(self.hist)
        if not self.settled:  # until a key is heard after silence, the estimate is taken at once
            self.settled = self._heard_enough()
            self.shift = estimate
        if estimate == self.shift:
            self.candidate, self.run = estimate, 0
        elif estimate == self.candidate:
            self.run += 1
            if self.run >= self.hold:
                self.shift, self.run = estimate, 0
        else:
            self.candidate, self.run = estimate, 1
        return self.shift


class KeyFrameEngine:
    """An engine on play-vocabulary ids around one on the model's (``Engine`` contract)."""

    def __init__(self, inner: Engine, model: Vocabulary, play: Vocabulary, frame: KeyFrame | None = None):
        self.inner, self.model, self.play = inner, model, play
        self.frame = frame or KeyFrame()
        self.vocab_size = len(play)
        self.context_length = inner.context_length
        self.name = f"{inner.name} in a key frame"
        self.threads = getattr(inner, "threads", 1)
        # model id -> play id at each shift: the model's chord moved back out of the frame  (12, V_model)
        self.out_of_frame = np.zeros((len(SHIFTS), len(model)), dtype=np.int64)
        for i, s in enumerate(SHIFTS):
            for token_id in range(len(model)):
                moved = transpose([model.decode_token(token_id)], -s)
                self.out_of_frame[i, token_id] = play.encode_token(moved[0]) if moved else play.encode_token(
                    model.decode_token(token_id))

    @property
    def shift(self) -> int:
        return self.frame.shift

    def into_frame(self, play_id: int, shift: int) -> int:
        """The model's id of a play token moved by ``shift`` (the nearest chord it knows)."""
        token = self.play.decode_token(int(play_id))
        moved = transpose([token], shift)
        return self.model.encode_token(moved[0] if moved else token)

    def reset(self, tokens: Sequence[int] = ()) -> None:
        shift = self.frame.reset(self.play.decode(tokens))
        self.inner.reset([self.into_frame(t, shift) for t in tokens])

    def push(self, token: int) -> None:
        shift = self.frame.hear(self.play.decode_token(int(token)))
        self.inner.push(self.into_frame(token, shift))

    def distribution(self) -> np.ndarray:
        p = self.inner.distribution()  # (V_model,)
        out = np.zeros(self.vocab_size)  # (V_play,)
        np.add.at(out, self.out_of_frame[SHIFTS.index(self.shift)], p)
        return out

    def prepare(self) -> None:
        self.inner.prepare()

    def close(self) -> None:
        self.inner.close()


def for_play(bundle: Bundle, engine: Engine, frame: KeyFrame | None = None) -> tuple[Vocabulary, Engine]:
    """The vocabulary and engine generate and the daemon play through: the bundle's own, or for a
    key-normalised model the play vocabulary and a ``KeyFrameEngine`` (``frame``: the model kind's
    own unless given)."""
    if not key_normalised(bundle):
        return bundle.vocab, engine
    play = play_vocabulary(bundle.vocab)
    if frame is None and bundle.manifest.kind == "duet":  # the key is the musician's part's
        frame = KeyFrame(parts=2, listen=MELODY, **DUET_FRAME)
    return play, KeyFrameEngine(engine, bundle.vocab, play, frame or KeyFrame(steps=128, hold=32))


