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
  chord), and gives the model's distribution moved back, over the play vocabulary. When the shift
  moves, the model either hears a modulation (the main model: the window turns over within
  ``context_length`` steps) or, given a ``spare`` engine, **hears the last ``rehear`` tokens
  again in the new frame** (for a duet: an accompanist who finds the tune is in another key goes
  on from the last bars heard in that key, not from bars of answers in the wrong one: the daemon's
  duet has a spare; models/duet/README.md). The exact
  engine's reset costs the square of its tokens (64 tokens: about 53 ms on one thread here, most of a
  240 BPM sixteenth), so the spare hears them ``CATCH_UP`` tokens at a time, in each
  ``prepare`` (the daemon's ``settle``, after the decision) or, without one, before the next
  ``push`` (the same numbers), with the tokens heard meanwhile; once it has caught up it takes
  over and the answers move to the new frame. Until then they stay in the old one.

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
# a single-stream model's frame (the main engine's): the key of the last 128 steps, moved by another
# that lasts 32; ``train.augment: frame`` moves its training files the same way (offline.memory)
SOLO_FRAME = {"steps": 128, "hold": 32}
# tokens a duet re-hears in the new frame when its shift moves (32 steps of both parts, two bars),
# and the tokens its spare hears at each prepare or unprepared push (a duet's step has two: the push
# of our token and the prepare after it, so 16 a step, caught up in about 5 steps): chosen on the
# validation melodies (scripts/duet_frame_sweep.py --rehear; models/duet/README.md).
# benchmarks/engine.py times a prepare's share
DUET_REHEAR = 64
CATCH_UP = 8


def key_normalised(bundle: Bundle) -> bool:
    """Trained in a key frame: every file moved to a tonic of C by its own key (``train.augment:
    normalise``), or every step by the key heard up to it (``frame``)."""
    return bundle.manifest.training.settings.get("augment") in ("normalise", "frame")


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
    """An engine on play-vocabulary ids around one on the model's (``Engine`` contract); with a
    ``spare`` (another engine on the same model) and ``rehear`` > 0, a move of the shift is
    heard again in the new frame (module docstring)."""

    def __init__(self, inner: Engine, model: Vocabulary, play: Vocabulary, frame: KeyFrame | None = None,
                 rehear: int = 0, spare: Engine | None = None, catch_up: int = CATCH_UP):
        if rehear and (rehear < 2 or spare is None):
            raise ValueError(f"rehear {rehear}: at least 2 tokens, and a spare engine to hear them")
        if catch_up < 3:
            raise ValueError(f"catch_up {catch_up}: the spare must hear more than the 2 tokens of a duet's step")
        self.inner, self.model, self.play = inner, model, play
        self.frame = frame or KeyFrame()
        self.rehear, self.spare, self.catch_up = rehear, spare, catch_up
        self.recent: deque[int] = deque(maxlen=max(rehear, 1))  # the last play tokens pushed
        self.count = 0  # tokens since reset, the prime's included (a duet's parity)
        self.active = 0  # the shift the answers are in (the inner engine hears in it)
        self.target: int | None = None  # the shift the spare is catching up in, while it does
        self.queue: deque[int] = deque()  # model ids the spare has still to hear
        self.caught = False  # the spare has had this step's share (prepare), not again in push
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
        """The shift the answers are moved back by (while a spare catches up: the old one)."""
        return self.active

    def into_frame(self, play_id: int, shift: int) -> int:
        """The model's id of a play token moved by ``shift`` (the nearest chord it knows)."""
        token = self.play.decode_token(int(play_id))
        moved = transpose([token], shift)
        return self.model.encode_token(moved[0] if moved else token)

    def reset(self, tokens: Sequence[int] = ()) -> None:
        tokens = [int(t) for t in tokens]
        self.active = self.frame.reset(self.play.decode(tokens))
        self.target, self.caught = None, False
        self.queue.clear()
        self.recent.clear()
        self.recent.extend(tokens[-self.recent.maxlen:])
        self.count = len(tokens)
        self.inner.reset([self.into_frame(t, self.active) for t in tokens])

    def push(self, token: int) -> None:
        if not self.caught:
            self._catch_up()
        self.caught = False
        shift = self.frame.hear(self.play.decode_token(int(token)))
        if not self.rehear:
            self.active = shift  # a modulation: this token and the ones after it in the new frame
        self.inner.push(self.into_frame(token, self.active))
        self.recent.append(int(token))
        self.count += 1
        if self.target is not None:
            self.queue.append(self.into_frame(token, self.target))
        if self.target is not None and shift == self.active:  # back before the spare caught up
            self.target = None
            self.queue.clear()
        elif shift != (self.active if self.target is None else self.target):
            self._start_over(shift)

    def _start_over(self, shift: int) -> None:
        """The spare starts again on the last ``rehear`` tokens moved by ``shift``, from a token of
        the first part (a duet's: ours), so the parts keep their places."""
        n = len(self.recent)
        n -= (self.count - n) % self.frame.parts  # the first token kept: index divisible by parts
        self.target = shift
        self.queue.clear()
        self.queue.extend(self.into_frame(t, shift) for t in list(self.recent)[len(self.recent) - n:])
        self.spare.reset()

    def _catch_up(self) -> None:
        """The spare hears ``catch_up`` more of its tokens; once none are left it takes over."""
        if self.target is None:
            return
        for _ in range(min(self.catch_up, len(self.queue))):
            self.spare.push(self.queue.popleft())
        if not self.queue:
            self.inner, self.spare = self.spare, self.inner
            self.active, self.target = self.target, None

    def distribution(self) -> np.ndarray:
        p = self.inner.distribution()  # (V_model,)
        out = np.zeros(self.vocab_size)  # (V_play,)
        np.add.at(out, self.out_of_frame[SHIFTS.index(self.active)], p)
        return out

    def prepare(self) -> None:
        if not self.caught:
            self._catch_up()
            self.caught = True
        self.inner.prepare()

    def close(self) -> None:
        self.inner.close()
        if self.spare is not None:
            self.spare.close()


def for_play(bundle: Bundle, engine: Engine, frame: KeyFrame | None = None, spare: Engine | None = None,
             rehear: int | None = None) -> tuple[Vocabulary, Engine]:
    """The vocabulary and engine generate and the daemon play through: the bundle's own, or for a
    key-normalised model the play vocabulary and a ``KeyFrameEngine`` (``frame``: the model kind's
    own unless given). ``spare``: a second engine like ``engine``, with which a duet re-hears
    ``rehear`` tokens (``DUET_REHEAR`` unless given) when its frame moves; without one, or for a
    single-stream model unless ``rehear`` is given, the model hears a modulation."""
    if not key_normalised(bundle):
        return bundle.vocab, engine
    play = play_vocabulary(bundle.vocab)
    duet = bundle.manifest.kind == "duet"
    if frame is None and duet:  # the key is the musician's part's
        frame = KeyFrame(parts=2, listen=MELODY, **DUET_FRAME)
    if rehear is None:
        rehear = DUET_REHEAR if duet and spare is not None else 0
    return play, KeyFrameEngine(engine, bundle.vocab, play, frame or KeyFrame(**SOLO_FRAME), rehear, spare)
