"""The note writer: step tokens -> note messages on one channel, remembering what sounds.

It turns each token into note-offs and note-ons by ``music.tokens.note_changes`` (the rule the
MIDI-file writer follows too), moves pitches by octaves into [low, high], and remembers what
sounds so that every note-on it sent can always be ended: on a chord change and REST, and by
``release`` (mode switch, mute, a lost port) and ``all_notes_off`` (panic, stop: note-offs, then
CC 123 on its channel).

A failing output (a vanished port) never raises out of ``send``: it is logged once and
counted, and the clock goes on.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Sequence

import mido

from liveplay.live.echo import EchoDetector
from liveplay.music.tokens import HOLD, RawToken, note_changes

log = logging.getLogger(__name__)

ALL_SOUND_OFF, ALL_NOTES_OFF = 120, 123


class NoteWriter:
    """Sends our notes; ``sounding`` says what sounds, ``echo`` knows our notes if they come back."""

    def __init__(self, send: Callable[[mido.Message], None], channel: int, low: int, high: int):
        self._send = send
        self.channel = channel
        self.low, self.high = low, high
        self.sounding: tuple[int, ...] = ()
        self.echo = EchoDetector()
        self.failed = False
        self.errors = 0

    def configure(self, channel: int, low: int, high: int) -> None:
        """A new channel or range (a reload): our notes end first, on the old channel."""
        if (channel, low, high) != (self.channel, self.low, self.high):
            self.release()
            self.channel, self.low, self.high = channel, low, high

    def send(self, msg: mido.Message, now: float | None = None) -> bool:
        """Send one message; False (logged once until it works again) when the output fails."""
        try:
            self._send(msg)
            if msg.type in ("note_on", "note_off"):
                self.echo.sent(msg, time.monotonic() if now is None else now)
        except Exception as err:  # a vanished port must not stop the clock
            self.errors += 1
            if not self.failed:
                log.warning("MIDI output failed (%s); the clock goes on", err)
            self.failed = True
            return False
        if self.failed:
            log.debug("MIDI output works again")
        self.failed = False
        return True

    def clamp(self, chord: Sequence[int]) -> tuple[int, ...]:
        """Move pitches by octaves into [low, high]."""
        out = set()
        for p in chord:
            while p < self.low:
                p += 12
            while p > self.high:
                p -= 12
            if self.low <= p <= self.high:
                out.add(p)
        return tuple(sorted(out))

    def play(self, token: RawToken, velocity: int, now: float | None = None) -> None:
        """One step's token: HOLD changes nothing, REST ends what sounds, a chord replaces it."""
        if token == HOLD:
            return
        offs, ons = note_changes(self.sounding, token if isinstance(token, str) else self.clamp(token))
        for p in offs:
            self.send(mido.Message("note_off", channel=self.channel, note=p, velocity=0), now)
        for p in ons:
            self.send(mido.Message("note_on", channel=self.channel, note=p, velocity=velocity), now)
        self.sounding = ons

    def release(self) -> None:
        for p in self.sounding:
            self.send(mido.Message("note_off", channel=self.channel, note=p, velocity=0))
        self.sounding = ()

    def all_notes_off(self) -> None:
        self.release()
        self.send(mido.Message("control_change", channel=self.channel, control=ALL_NOTES_OFF, value=0))

    def hygiene(self) -> None:
        """On a freshly opened output: all-sound-off and all-notes-off on our channel, so notes a
        killed earlier liveplay (or anything before) left sounding there stop."""
        self.sounding = ()
        for control in (ALL_SOUND_OFF, ALL_NOTES_OFF):
            self.send(mido.Message("control_change", channel=self.channel, control=control, value=0))

    def is_ours(self, msg: mido.Message, stamp: float | None = None) -> bool:
        """Our own note coming back through a loop (``echo.EchoDetector``), arrived at ``stamp``."""
        return self.echo.is_echo(msg, time.monotonic() if stamp is None else stamp)
