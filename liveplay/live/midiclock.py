"""MIDI beat clock: follow a DAW's clock and transport (``clock.source: midi``).

The DAW sends 0xF8 at 24 ticks a quarter note, Start / Continue / Stop, and Song
Position Pointer (in sixteenths = 6 ticks). ``ClockFollower`` is fed straight from
the rtmidi callback (not through the input queue, so a tick is seen the moment it
arrives) and turns that into:

- **step boundaries on ticks**: the tick whose song position is a multiple of
  24 / ``steps_per_beat`` is a boundary. The sender waits for it and plays at
  once, so an onset follows its tick by the time one wake-up takes; there is
  nothing to drift.
- **a tempo estimate** for the thinker's lookahead: the least-squares slope of
  the last ``TEMPO_TICKS`` tick arrival times, so a few ms of jitter on single
  ticks moves it by well under 1 %, and a tempo ramp is followed within a beat.
  The thinker decides only the next step (``is_next``): past it a prediction is
  all there is, and a clock that pauses without Stop would run it ahead.
- **transport**: Start plays from song position 0 (the first tick after it is the
  downbeat), Continue from the current position, Stop silences our notes at once
  and waits. Song Position moves the position; the next boundary is the next
  multiple of the step length from there. Ticks that arrive while stopped keep the
  tempo estimate warm. Ticks before any Start or Continue since liveplay started
  mean the DAW is already playing: liveplay joins at once, counting from that tick.
- **clock lost**: no tick for ``LOST_BEATS`` beats while running -> silence, then
  wait; when ticks come again, play goes on from where the position is.

Performance steps (the player's k: context, decisions) count boundaries as they
happen and never jump; the song position is what Song Position and Start move.

In the rtmidi thread (``on_message``) nothing is logged and nothing waits beyond one short
lock: what is worth a log line is noted in a small ring and logged by ``report`` (the app's
main loop calls it twice a second).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from math import ceil

import mido

from liveplay.errors import ConfigError

log = logging.getLogger(__name__)

TICKS_PER_BEAT = 24
TICKS_PER_SIXTEENTH = 6  # Song Position Pointer unit
TEMPO_TICKS = 24  # ticks in the tempo fit: one beat
LOST_BEATS = 2.0  # no tick for this long while running: the clock is lost
TRANSPORT = frozenset({"clock", "start", "continue", "stop", "songpos"})
RECENT = 16  # boundary tick times kept for placing input stamps


def ticks_per_step(steps_per_beat: int) -> int:
    """MIDI clock ticks in one step; a grid whose steps do not fall on ticks is a config error."""
    if TICKS_PER_BEAT % steps_per_beat:
        raise ConfigError([f"live.steps_per_beat: {steps_per_beat} steps a beat do not fall on MIDI clock "
                           f"ticks (24 a beat); use 1, 2, 3, 4, 6, 8, 12 or 24"], "MIDI clock")
    return TICKS_PER_BEAT // steps_per_beat


class ClockFollower:
    """Step boundaries, tempo and transport from incoming MIDI clock (thread-safe)."""

    def __init__(self, steps_per_beat: int, tempo_bpm: float):
        self.ticks_per_step = ticks_per_step(steps_per_beat)
        self.cond = threading.Condition()
        self.running = False
        self.transport_seen = False  # a Start, Continue or Stop since liveplay started
        self.lost = False
        self.position = 0  # song position (ticks) of the next tick to come
        self.reached = -1  # the last performance step whose boundary tick has arrived
        self.song_step = 0  # song position of that boundary, in steps
        self.last_signal: float | None = None  # the last tick, Start or Continue (monotonic)
        self.silence = 0  # bumped at Stop and when the clock is lost: the sender silences our notes
        self.ticks: deque[float] = deque(maxlen=TEMPO_TICKS + 1)  # arrival times of recent ticks
        self.default_tick = 60.0 / (tempo_bpm * TICKS_PER_BEAT)
        self._fit: float | None = None  # the tempo fit of the current ticks (None: not computed yet)
        self._last_fit = self.default_tick  # the latest fit: the callback's gap test needs no new one
        self.counts = {"clock": 0, "start": 0, "continue": 0, "stop": 0, "songpos": 0}
        self.boundary_at = [0.0] * RECENT  # arrival of performance step k's tick at [k % RECENT]
        self.notes: deque[tuple] = deque(maxlen=64)  # (format, args) to log outside the rtmidi thread

    # -- from the rtmidi thread ------------------------------------------------------------

    def on_message(self, msg: mido.Message, t: float) -> None:
        kind = msg.type
        if kind not in TRANSPORT:
            return
        with self.cond:
            self.counts[kind] += 1
            if kind == "clock":
                self._tick(t)
            elif kind == "start":
                self.position = 0
                self._run(t, "start: playing from the top")
            elif kind == "continue":
                self._run(t, "continue: playing from step %d", self.position // self.ticks_per_step)
            elif kind == "stop":
                self.transport_seen = True
                if self.running:
                    self.running = False
                    self.silence += 1
                    self.notes.append(("MIDI clock stop: silent until Start or Continue", ()))
            elif kind == "songpos":
                self.position = msg.pos * TICKS_PER_SIXTEENTH
                self.notes.append(("MIDI song position: sixteenth %d (step %.4g)",
                                   (msg.pos, self.position / self.ticks_per_step)))
            self.cond.notify_all()

    def _run(self, t: float, what: str, *args) -> None:
        self.transport_seen = True
        self.running = True
        self.lost = False
        self.last_signal = t
        self.notes.append(("MIDI clock " + what, args))

    def _tick(self, t: float) -> None:
        if self.ticks and t - self.ticks[-1] > LOST_BEATS * TICKS_PER_BEAT * self._last_fit:
            self.ticks.clear()  # a gap: the ticks before it say nothing about the tempo now
        self.ticks.append(t)
        self._fit = None  # fitted when someone asks, not in the rtmidi thread on every tick
        if not self.running:
            if self.transport_seen:
                return  # stopped: ticks only keep the tempo estimate warm
            self._run(t, "ticks without Start: the DAW is already playing; joining now")
        if self.lost:
            self.lost = False
            self.notes.append(("MIDI clock is back: playing on", ()))
        self.last_signal = t
        position = self.position
        self.position += 1
        if position % self.ticks_per_step == 0:
            self.reached += 1
            self.song_step = position // self.ticks_per_step
            self.boundary_at[self.reached % RECENT] = t

    # -- estimates ------------------------------------------------------------------------

    def _tick_seconds(self) -> float:
        """Seconds per tick: the least-squares slope of the recent tick times (lock held)."""
        if self._fit is None:
            self._fit = self._last_fit = self._least_squares()
        return self._fit

    def _least_squares(self) -> float:
        n = len(self.ticks)
        if n < 3:
            return self.default_tick
        t0 = self.ticks[0]
        mean_i = (n - 1) / 2
        mean_t = sum(t - t0 for t in self.ticks) / n
        num = sum((i - mean_i) * (t - t0 - mean_t) for i, t in enumerate(self.ticks))
        den = sum((i - mean_i) ** 2 for i in range(n))
        slope = num / den
        return slope if slope > 0 else self.default_tick

    def tick_seconds(self) -> float:
        with self.cond:
            return self._tick_seconds()

    def _tempo_bpm(self) -> float:
        return 60.0 / (TICKS_PER_BEAT * self._tick_seconds())

    def tempo_bpm(self) -> float:
        with self.cond:
            return self._tempo_bpm()

    def predict(self, k: int) -> float | None:
        """When performance step ``k``'s boundary tick should arrive; None while stopped or lost."""
        with self.cond:
            if not self.running or self.lost or self.last_signal is None:
                return None
            if k <= self.reached:
                return time.monotonic()
            tps = self.ticks_per_step
            ahead = (-self.position) % tps + (k - self.reached - 1) * tps  # ticks after the next one
            return self.last_signal + (ahead + 1) * self._tick_seconds()

    def input_step(self, stamp: float, lookahead: float) -> int | None:
        """The performance step an input stamped ``stamp`` belongs to (timing.py's rule, with
        the boundaries' real tick times where they have come, predicted ones after); None while
        stopped or lost (input then is let go)."""
        with self.cond:
            if not self.running or self.lost or self.last_signal is None:
                return None
            tick = self._tick_seconds()
            lead = min(lookahead, tick * self.ticks_per_step / 2)
            j = self.reached
            oldest = max(0, self.reached - RECENT + 1)
            while j >= oldest and self.boundary_at[j % RECENT] - lead >= stamp:
                j -= 1  # stamped before step j's input window closed: an earlier step
            if j == self.reached:  # after the last boundary's window opened: count predicted ones
                ahead = (-self.position) % self.ticks_per_step + 1  # ticks to the next boundary
                nxt = self.last_signal + ahead * tick
                if stamp + lead > nxt:
                    j += 1 + int(ceil((stamp + lead - nxt) / (tick * self.ticks_per_step))) - 1
            return j

    def report(self) -> None:
        """Log what the rtmidi thread noted (from the main loop, never the rtmidi thread)."""
        while self.notes:
            fmt, args = self.notes.popleft()
            log.info(fmt, *args)

    # -- for the player's threads ---------------------------------------------------------

    def wait(self, k: int, silence_seen: int, stop: threading.Event, idle: float = 1.0) -> tuple[str, int]:
        """Block until step ``k``'s boundary ('boundary'), a reason to silence ('silence'), stop
        ('stop'), or ``idle`` seconds of none of these ('idle': the sender is alive, say so);
        'gone' when step k's tick came before a Stop or a lost clock the sender saw first.

        Returns (what, the silence count now). Also notices a lost clock: no tick for
        ``LOST_BEATS`` beats while running.
        """
        give_up = time.monotonic() + idle
        with self.cond:
            while not stop.is_set():
                if time.monotonic() >= give_up:
                    return "idle", self.silence
                if self.silence != silence_seen:
                    return "silence", self.silence
                if self.reached >= k:  # its tick has come; if a Stop or a lost clock came after it
                    # too, the step's moment went with them: 'gone', not played during the silence
                    return ("boundary" if self.running and not self.lost else "gone"), self.silence
                timeout = 0.1
                if self.running and not self.lost and self.last_signal is not None:
                    lost_at = self.last_signal + LOST_BEATS * TICKS_PER_BEAT * self._tick_seconds()
                    left = lost_at - time.monotonic()
                    if left <= 0:
                        self.lost = True
                        self.silence += 1
                        log.warning("MIDI clock lost (no tick for %g beats): silent until it comes back",
                                    LOST_BEATS)
                        continue
                    timeout = min(timeout, left)
                self.cond.wait(timeout)
            return "stop", self.silence

    def is_next(self, k: int) -> bool:
        """Whether performance step ``k`` is the next to play: step k-1's boundary tick has come.
        The thinker decides no further ahead: past the next boundary a prediction is all there
        is, and a clock that pauses without Stop would run it steps ahead on stale ones."""
        with self.cond:
            return k <= self.reached + 1

    def playing(self) -> bool:
        with self.cond:
            return self.running and not self.lost

    def wait_running(self, stop: threading.Event, timeout: float) -> None:
        """Sleep until a tick or a transport change comes, or ``timeout`` passes (for the thinker)."""
        with self.cond:
            if not stop.is_set():
                self.cond.wait(timeout)

    def describe(self) -> str:
        with self.cond:
            state = "lost" if self.lost else "running" if self.running else "stopped"
            received = ", ".join(f"{v} {k}" for k, v in self.counts.items())
            return f"MIDI clock {state}, song step {self.song_step}, {self._tempo_bpm():.1f} BPM; received {received}"
