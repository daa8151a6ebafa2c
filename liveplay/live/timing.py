"""Where the steps fall in time: the internal clock, or a DAW's MIDI clock (``Timing``).

The threaded player asks one ``Timing`` four things, whichever clock it is:

- ``wait_boundary(k)`` (the sender): block until boundary k is due and return a ``Beat`` -- or
  return at once what else happened: the player is stopping, the transport stopped or the
  clock was lost (silence our notes), or a second went by with nothing (the sender is alive);
- ``wait_to_compute(k)`` (the thinker): block until ``lookahead`` before boundary k;
- ``input_step(stamp)``: the step a musician's note belongs to, by its arrival stamp (the
  quantisation rule below), however late the thinker reads it;
- ``tempo_bpm()``, ``set_tempo()``, ``song_step()`` for the controls and the status line.

Quantisation rule (both clocks): with C_j = B_j - lookahead, an input stamped in
(C_j, C_{j+1}] belongs to step j: a note played up to ``lookahead`` before boundary j+1 still
counts for step j, which shapes the chord played at j+1.

``InternalTiming``: an absolute monotonic schedule (``clock.StepClock``), optionally sending
MIDI clock on the output (24 ticks a beat at their fractions of the same schedule, Start just
before the first downbeat, Stop at the end), so nothing drifts. ``MidiClockTiming``: the
boundaries are the ticks a ``midiclock.ClockFollower`` sees; tempo, Start, Stop, Continue and
Song Position are the DAW's.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable, NamedTuple, Protocol

import mido

from liveplay.live.clock import StepClock, wait_until
from liveplay.live.midiclock import ClockFollower, ticks_per_step

CLOCK_TICK = mido.Message("clock")


class Beat(NamedTuple):
    """What ``wait_boundary`` saw: 'boundary', 'silence', 'idle', 'stop' or 'gone' (a boundary
    that came before a Stop: skipped, not played), and the clock's
    silence count then (a boundary is still good to play while that count has not moved);
    ``due``: when the boundary was due (monotonic), where the timing knows it ahead."""

    kind: str
    epoch: int = 0
    due: float | None = None


STOP = Beat("stop")


class Timing(Protocol):
    steps_per_beat: int
    following: bool  # True: a DAW's clock (tempo controls are ignored)

    def start(self, first_boundary: float) -> None: ...

    def wait_boundary(self, k: int, stop: threading.Event) -> Beat: ...

    def still(self, beat: Beat) -> bool: ...

    def wait_to_compute(self, k: int, stop: threading.Event, lookahead: float,
                        idle: Callable[[], None]) -> bool: ...

    def input_step(self, stamp: float, lookahead: float) -> int | None: ...

    def step_seconds(self) -> float: ...

    def tempo_bpm(self) -> float: ...

    def set_tempo(self, bpm: float, from_step: int) -> bool: ...

    def song_step(self, k: int) -> int: ...

    def finish(self) -> None: ...

    def report(self) -> None: ...

    def describe(self) -> str: ...


def compute_lead(lookahead: float, step_seconds: float) -> float:
    """How long before a boundary its chord is decided: ``lookahead``, at most half a step."""
    return min(lookahead, step_seconds / 2)


class InternalTiming:
    """Our own tempo; ``send`` (a writer's ``send``) also puts out MIDI clock when given."""

    following = False

    def __init__(self, tempo_bpm: float, steps_per_beat: int, send: Callable[[mido.Message], bool] | None = None):
        if send is not None:
            ticks_per_step(steps_per_beat)  # the grid must fall on MIDI clock ticks
        self.steps_per_beat = steps_per_beat
        self.clock = StepClock(tempo_bpm, steps_per_beat, time.monotonic())
        self.lock = threading.Lock()  # the schedule: the sender reads it, a tempo change moves it
        self.send = send
        self.ticks_sent = 0

    def start(self, first_boundary: float) -> None:
        with self.lock:
            self.clock.anchor_time, self.clock.anchor_step = first_boundary, 0

    def wait_boundary(self, k: int, stop: threading.Event) -> Beat:
        with self.lock:
            due = self.clock.boundary(k)
            previous = self.clock.boundary(k - 1)  # a tempo change keeps boundary k where it is
        if self.send is not None and k > 0:  # the ticks between boundary k-1 and boundary k
            ticks = ticks_per_step(self.steps_per_beat)
            for j in range(1, ticks):
                if not wait_until(previous + (due - previous) * j / ticks, stop):
                    return STOP
                self._tick()
        if not wait_until(due, stop):
            return STOP
        if self.send is not None:
            if k == 0:
                self.send(mido.Message("start"))  # the tick after Start is the downbeat
            self._tick()
        return Beat("boundary", due=due)

    def _tick(self) -> None:
        self.ticks_sent += bool(self.send(CLOCK_TICK))

    def still(self, beat: Beat) -> bool:
        return True

    def wait_to_compute(self, k: int, stop: threading.Event, lookahead: float,
                        idle: Callable[[], None]) -> bool:
        with self.lock:
            at = self.clock.boundary(k) - compute_lead(lookahead, self.clock.step_seconds)
        return wait_until(at, stop)

    def input_step(self, stamp: float, lookahead: float) -> int:
        with self.lock:
            c = self.clock
            lead = compute_lead(lookahead, c.step_seconds)
            return c.anchor_step + math.ceil((stamp + lead - c.anchor_time) / c.step_seconds) - 1

    def step_seconds(self) -> float:
        return self.clock.step_seconds

    def tempo_bpm(self) -> float:
        return self.clock.tempo_bpm

    def set_tempo(self, bpm: float, from_step: int) -> bool:
        with self.lock:
            if bpm != self.clock.tempo_bpm:
                self.clock.set_tempo(bpm, from_step)
        return True

    def song_step(self, k: int) -> int:
        return k

    def finish(self) -> None:
        if self.send is not None:
            self.send(mido.Message("stop"))

    def report(self) -> None:
        pass

    def describe(self) -> str:
        return ""


class MidiClockTiming:
    """Steps on a DAW's MIDI clock ticks (``midiclock.ClockFollower``, fed by the rtmidi callback)."""

    following = True

    def __init__(self, follower: ClockFollower, steps_per_beat: int):
        self.follower = follower
        self.steps_per_beat = steps_per_beat
        self.epoch = 0  # the follower's silence count the sender has acted on

    def start(self, first_boundary: float) -> None:
        pass  # the DAW says when

    def wait_boundary(self, k: int, stop: threading.Event) -> Beat:
        what, silence = self.follower.wait(k, self.epoch, stop)
        if what == "silence":
            self.epoch = silence
        return Beat(what, silence)

    def still(self, beat: Beat) -> bool:
        return self.follower.silence == beat.epoch  # no Stop between the tick and now

    def wait_to_compute(self, k: int, stop: threading.Event, lookahead: float,
                        idle: Callable[[], None]) -> bool:
        """The boundary moves with the tempo and the transport: re-predict every 50 ms. Step k is
        decided only once it is the next to play (step k-1's tick has come): when the DAW's clock
        pauses without a Stop, the thinker waits for it rather than deciding steps ahead on
        predictions that have passed (which left the first steps after the clock came back
        undecided: late, held). While the DAW is stopped (or the clock lost) the next step is
        decided at once, so the first boundary after Continue plays it, and then ``idle`` runs
        (controls act, notes are let go)."""
        f = self.follower
        while not stop.is_set():
            if not f.is_next(k):
                if not f.playing():
                    idle()
                f.wait_running(stop, 0.05)
                continue
            due = f.predict(k)
            if due is None:  # stopped or lost, with k the next step: ready for the first boundary back
                return True
            at = due - compute_lead(lookahead, f.tick_seconds() * f.ticks_per_step)
            if time.monotonic() >= at:
                return True
            wait_until(min(at, time.monotonic() + 0.05), stop)
        return False

    def input_step(self, stamp: float, lookahead: float) -> int | None:
        return self.follower.input_step(stamp, lookahead)

    def step_seconds(self) -> float:
        return self.follower.tick_seconds() * self.follower.ticks_per_step

    def tempo_bpm(self) -> float:
        return self.follower.tempo_bpm()

    def set_tempo(self, bpm: float, from_step: int) -> bool:
        return False  # the DAW's clock sets the tempo

    def song_step(self, k: int) -> int:
        return self.follower.song_step

    def finish(self) -> None:
        pass

    def report(self) -> None:
        self.follower.report()

    def describe(self) -> str:
        return self.follower.describe()
