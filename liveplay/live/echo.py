"""Telling liveplay's own notes coming back on its input (a loop through a DAW) from the musician's.

A DAW that monitors the track liveplay plays into may send every note straight back to liveplay's
input. Those echoes must not count as the musician's. But a musician who plays in time on one
channel with liveplay hits the same pitches at the same moments all the time, so "a pitch we
just played" cannot be the test.

An echo is the same message (channel, pitch, velocity) arriving within ``window`` seconds after
we sent it. Such matches are counted for each of our note-ons; only when most of them come back
(``threshold`` of the last ``sample``) is a loop taken to exist, and only then are matches dropped
as ours. A musician in unison with liveplay matches at most the one pitch they play of each of our
chords, far below the threshold; a real loop returns every note. Pure: times come as arguments.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

import mido

log = logging.getLogger(__name__)

ECHO_SECONDS = 0.06  # two periods of a 1024-frame JACK server at 48 kHz, and some
SAMPLE = 24  # our note-ons the loop test looks back over
THRESHOLD = 0.75  # share of them that came back: a loop (half of it to end one: no flapping)


class EchoDetector:
    def __init__(self, window: float = ECHO_SECONDS, sample: int = SAMPLE, threshold: float = THRESHOLD):
        self.window, self.threshold = window, threshold
        self.lock = threading.Lock()  # the sender records, the thinker asks
        self.pending: deque[list] = deque()  # [time, channel, pitch, velocity, came back] of our note-ons
        self.outcomes: deque[bool] = deque(maxlen=sample)
        self.offs: dict[tuple[int, int], float] = {}  # (channel, pitch) -> our last note-off
        self.loop = False

    def sent(self, msg: mido.Message, t: float) -> None:
        """A note message we sent at ``t``."""
        with self.lock:
            if msg.type == "note_on" and msg.velocity > 0:
                self.pending.append([t, msg.channel, msg.note, msg.velocity, False])
            elif msg.type in ("note_on", "note_off"):
                self.offs[(msg.channel, msg.note)] = t
            self._resolve(t)

    def is_echo(self, msg: mido.Message, stamp: float) -> bool:
        """True for a note message that is our own coming back (only while a loop is seen)."""
        with self.lock:
            self._resolve(stamp)
            if msg.type == "note_on" and msg.velocity > 0:
                for entry in self.pending:
                    t, channel, pitch, velocity, matched = entry
                    if (not matched and (channel, pitch, velocity) == (msg.channel, msg.note, msg.velocity)
                            and 0.0 <= stamp - t < self.window):
                        entry[4] = True
                        return self.loop
                return False
            t = self.offs.get((msg.channel, msg.note))
            return self.loop and t is not None and 0.0 <= stamp - t < self.window

    def _resolve(self, now: float) -> None:
        """Note-ons older than the window have come back or not: update the loop test."""
        while self.pending and now - self.pending[0][0] >= self.window:
            self.outcomes.append(self.pending.popleft()[4])
        if len(self.outcomes) < self.outcomes.maxlen // 3:
            return
        share = sum(self.outcomes) / len(self.outcomes)
        loop = share >= (self.threshold / 2 if self.loop else self.threshold)
        if loop != self.loop:
            self.loop = loop
            log.info("%s", "our own notes come back on the input (a loop through a DAW?): ignoring them" if loop
                     else "our own notes no longer come back on the input")
