"""The input side of the rtmidi callback: raw bytes -> stamped messages on a bounded queue.

The callback runs in rtmidi's MIDI thread. It stamps ``time.monotonic()``, turns the bytes into
a mido message, and appends it to a ``deque`` (an atomic append: no lock, nothing to wait on);
the thinker drains it. Nothing there logs, blocks or raises: what goes wrong is counted and
shown by SIGUSR1 (``describe``).

- A full queue (a flood) drops the message and counts it.
- System real-time messages and Song Position never queue: they go at once to ``realtime`` (the
  MIDI clock follower) when following a DAW's clock, else nowhere.
- **Byte soup is repaired, not swallowed.** An unterminated sysex (``F0 ...`` with no ``F7``, as a
  flaky controller or a pulled cable sends) makes RtMidi's input glue every later event onto it
  until some ``F7`` arrives. Such a blob is split again at its status bytes (mido's parser): the
  messages inside are recovered ("repaired") and the broken sysex counted ("lost"). The guard
  that sends that ``F7`` is in ``ports.py``; a lone ``F7`` of its own is ignored here.
- ``InputCallback`` is what RtMidi calls: it can be taken away while MIDI streams in, before the
  port closes (why, in its docstring).
"""

from __future__ import annotations

import gc
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import mido

SYSEX, END_OF_SYSEX = 0xF0, 0xF7
CALLBACK_DRAIN = 0.05  # s an input's callback is given to finish before its port closes (InputCallback)
# system real-time and song position: never queued (the clock follower takes the transport ones)
REALTIME = frozenset({"clock", "start", "continue", "stop", "songpos", "active_sensing", "reset"})


# one byte and nothing of ours: the sysex guard's lone F7 (nothing to end), active sensing, reset
QUIET = frozenset({END_OF_SYSEX, 0xFE, 0xFF})
# one-byte system real-time messages, built once and shared (only their type is read)
SYSTEM_REALTIME = {status: mido.Message.from_bytes([status]) for status in (0xF8, 0xFA, 0xFB, 0xFC)}


@dataclass(frozen=True)
class Stamped:
    time: float  # time.monotonic() at arrival
    message: mido.Message


class InputQueue:
    """Bounded queue fed by the rtmidi callback: stamp, parse, enqueue, return."""

    def __init__(self, maxsize: int = 4096, realtime: Callable[[mido.Message, float], None] | None = None):
        self.maxsize = maxsize
        self.queue: deque[Stamped] = deque()
        self.realtime = realtime
        self.dropped = 0  # a full queue (a flood)
        self.repaired = 0  # messages recovered from a sysex that never ended
        self.lost = 0  # byte runs that were no MIDI message at all (broken sysex, stray bytes)

    def on_bytes(self, event, _data=None) -> None:
        """python-rtmidi's callback: ``event`` is (bytes, delta seconds)."""
        stamp = time.monotonic()
        try:
            data = event[0]
            if len(data) == 1 and data[0] >= END_OF_SYSEX:
                if data[0] in SYSTEM_REALTIME:
                    if self.realtime is not None:
                        self.realtime(SYSTEM_REALTIME[data[0]], stamp)  # a clock tick: no parse, no allocation
                elif data[0] not in QUIET:
                    self.lost += 1  # an undefined status byte
                return
            try:
                self._take(mido.Message.from_bytes(data), stamp)
            except ValueError:
                self._repair(data, stamp)
        except Exception:  # never raise into the rtmidi thread
            self.lost += 1

    def callback(self, message: mido.Message) -> None:
        """For a mido port (the callback gets parsed messages)."""
        try:
            self._take(message, time.monotonic())
        except Exception:
            self.lost += 1

    def _take(self, message: mido.Message, stamp: float) -> None:
        if message.type in REALTIME:
            if self.realtime is not None:
                self.realtime(message, stamp)
            return
        if len(self.queue) >= self.maxsize:
            self.dropped += 1
            return
        self.queue.append(Stamped(stamp, message))

    def _repair(self, data, stamp: float) -> None:
        """Bytes that are not one message: recover the messages inside, count the rest as lost."""
        recovered = mido.parse_all(data)
        if data[0] == SYSEX:  # an unterminated sysex glued to what followed it
            recovered = [m for m in recovered if m.type != "sysex"]
            self.repaired += len(recovered)
        self.lost += 1
        for message in recovered:
            self._take(message, stamp)

    def drain(self, limit: int = 100_000) -> list[Stamped]:
        out = []
        queue = self.queue
        try:
            while len(out) < limit:
                out.append(queue.popleft())
        except IndexError:
            pass
        return out

    def describe(self) -> str:
        return f"dropped input {self.dropped}, repaired input {self.repaired}, lost input {self.lost}"


class InputCallback:
    """An rtmidi input's callback that can be taken away while MIDI streams in.

    libjack stops a closing client's process thread with an asynchronous ``pthread_cancel``, and
    the callback runs Python in that thread: cancelled while it holds or waits for the GIL, the
    thread dies owning the GIL's mutex and every thread of the process hangs for good (seen: a
    daemon that logged its stop and never exited; a test process after unplugging a synth). So
    ``stop`` first takes the callback away from RtMidi and gives the thread ``CALLBACK_DRAIN``,
    GIL free, to finish a call under way; what arrives after waits in RtMidi's own queue, dropped
    with the port. python-rtmidi frees the ``(callable, data)`` pair it handed RtMidi when the
    callback is cancelled -- under a thread still waiting to use it, a crash -- so the pair is
    held here until the port is gone.
    """

    def __init__(self, rt, on_bytes: Callable):
        self.on_bytes = on_bytes
        self.live = True
        rt.set_callback(self)
        self.held = [r for r in gc.get_referents(rt) if isinstance(r, tuple) and r and r[0] is self]

    def __call__(self, event, data) -> None:
        if self.live:
            self.on_bytes(event, data)

    def stop(self, rt) -> None:
        self.live = False
        rt.cancel_callback()
        time.sleep(CALLBACK_DRAIN)
