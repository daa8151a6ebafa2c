"""The threaded player: two named threads around the pure ``Performance``, on one ``Timing``.

- **sender**: waits for boundary k (``timing.wait_boundary``) and sends the chord decided for
  step k -- or, when it is not ready, HOLDs and counts the step as late. Sending never waits
  for computing. A Stop or a lost MIDI clock silences our notes at once. A late step is logged
  with where the time went (``stepwatch.py``).
- **thinker**: ``lookahead`` before boundary k it drains the input queue into the performance
  (controls act, notes land in the step of their stamp), folds step k-1 into the context, runs
  the model's step and decides step k.

Both ask for real-time scheduling as they start (``realtime.py``: the sender above the thinker,
both below JACK), so other busy processes cannot hold them past their time.

One lock guards what both touch: the note writer, the decisions, what was played. The model's
step and the input handling run outside it, so the sender is never held up by computing.
Every note-on has its note-off: chord changes, REST, mode switch, mute, panic, a lost port, and
``stop`` (note-offs, then CC 123 on our channel).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from liveplay.config import ControlSettings, LiveSettings, SamplerSettings
from liveplay.live.performance import FORWARD, RELEASE, SILENCE, TEMPO, Effect, Performance
from liveplay.live import realtime
from liveplay.live.inputs import InputQueue
from liveplay.live.recording import SessionRecording
from liveplay.live.status import StatusLine
from liveplay.live.stepwatch import StepWatch
from liveplay.live.timing import Beat, Timing
from liveplay.live.writer import NoteWriter
from liveplay.music.tokens import HOLD, REST, RawToken

log = logging.getLogger(__name__)

FLUSH_LEAD = 0.015  # s: the guard's F7 back through the server: ~3 periods at 256 frames (5.3 ms), 6 at 128


class Player:
    def __init__(self, performance: Performance, timing: Timing, writer: NoteWriter, inputs: InputQueue,
                 live: LiveSettings, status: bool | None = None, pet_watchdog: Callable[[], None] | None = None,
                 flush: Callable[[], None] | None = None, recording: SessionRecording | None = None):
        self.performance, self.timing, self.writer, self.inputs = performance, timing, writer, inputs
        self.flush = flush  # the sysex guard (ports.Ports.flush): before each step's input is read
        self.recording = recording  # --record: the musician's messages and the tempo go in here
        self.lookahead = live.lookahead_ms / 1000.0
        self.status = StatusLine(performance, timing, writer, inputs, status)
        self.pet_watchdog = pet_watchdog or (lambda: None)
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.decided: dict[int, RawToken] = {}
        self.step = 0  # the last step sent
        self.late = 0
        self.current: RawToken = REST  # the last chord or REST played (the status line)
        self.last_decided = 0  # the thinker's last decided step (the watchdog's sign of life)
        self.thinker_seen = time.monotonic()
        self.threads: list[threading.Thread] = []
        self.errors_seen: set[str] = set()
        self.watch = StepWatch()  # a late step is logged with where the time went
        self.priority = live.realtime_priority  # the sender's SCHED_FIFO priority; the thinker's one less

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, first: float | None = None) -> None:
        """Threads up; the first boundary at ``first`` (monotonic; default 0.2 s from now)."""
        first = time.monotonic() + 0.2 if first is None else first
        self.timing.start(first)
        log.debug("first boundary at monotonic %.6f", first)
        self.decided[0] = self.performance.decide(0)
        self.performance.settle()
        self.threads = [threading.Thread(target=self._sender, name="sender", daemon=True),
                        threading.Thread(target=self._thinker, name="thinker", daemon=True)]
        for t in self.threads:
            t.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.disarm()
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout)
            if t.is_alive():
                log.error("thread %s did not stop within %.1f s", t.name, timeout)
        self.watch.close()
        with self.lock:
            self.timing.finish()
            self.writer.all_notes_off()
        self.status.end()

    # -- the sender ------------------------------------------------------------------------

    def disarm(self) -> None:
        """No stall dump from here on (``stepwatch``): the stop's own deadline may take the timer."""
        with self.lock:
            self.watch.disarm()

    def _sender(self) -> None:
        self._scheduled(self.priority)
        k = 0
        while True:
            beat = self.timing.wait_boundary(k, self.stop_event)
            if beat.kind == "stop":
                return
            if beat.kind != "boundary":
                with self.lock:
                    self.watch.pause()  # no boundary due: a stall dump would name nothing
            if beat.kind == "idle":  # the DAW is stopped: no boundaries, but both threads are alive
                if time.monotonic() - self.thinker_seen < 5.0:
                    self.pet_watchdog()
            elif beat.kind == "silence":
                with self.lock:
                    self.writer.release()
            else:  # 'boundary', or 'gone'
                self._boundary(k, beat)
                k += 1

    def _boundary(self, k: int, beat: Beat) -> None:
        """Play step k's decided token (HOLD when it is not ready: a late step)."""
        woke = None if beat.due is None else time.monotonic() - beat.due
        why = None
        with self.lock:
            if beat.kind == "gone" or not self.timing.still(beat):
                # its tick came before a Stop (seen by the wait, or between the tick and now): the
                # step's moment went with the Stop, unplayed (waiting for it again would find its
                # tick come and play it during the Stop); the next wait silences
                self.step = k
                return
            token = self.decided.pop(k, None)
            if token is None:
                self.late += 1
                token = HOLD
                why = self.watch.describe(k, self.late, woke, self.watch.boundary())
            token = self.performance.to_play(token)
            self.writer.play(token, self.performance.velocity)
            if token != HOLD:
                self.current = token
            self.performance.performed(k, token, bool(self.writer.sounding))
            self.step = k
            self.watch.arm(self.timing.step_seconds())  # LIVEPLAY_STALL_DUMP: the next boundary's deadline
        if why is None:
            self.watch.boundary()
        else:
            log.warning("%s", why)
        self.status.show(k, self.current, self.late)
        if self.recording is not None:
            self.recording.tempo_changed(time.monotonic(), self.timing.tempo_bpm())
        if k - self.last_decided <= 8:
            self.pet_watchdog()  # both threads are alive: a stalled one lets systemd restart us

    # -- the thinker -----------------------------------------------------------------------

    def _thinker(self) -> None:
        self._scheduled(max(self.priority - 1, 1) if self.priority > 0 else 0)
        k = 1
        while self._wait_to_compute(k):
            self.thinker_seen = time.monotonic()
            try:
                token = self._think(k)
            except Exception as err:  # the loop goes on; the step plays HOLD
                self._once(err)
                token = HOLD
            with self.lock:
                if self.step < k:  # its boundary has not passed yet
                    self.decided[k] = token
            self.watch.thinking("settling after", k)
            try:
                self.performance.settle()  # the model steps that could wait for the decision, and the
                # next step's token-free half
            except Exception as err:
                self._once(err)
            with self.lock:
                self.last_decided = k
                # a decision that came after its boundary was counted late by the sender
                k = max(k + 1, self.step + 1)
                for old in [s for s in self.decided if s < k - 1]:
                    del self.decided[old]

    def _wait_to_compute(self, k: int) -> bool:
        """Until ``lookahead`` before boundary k; the sysex guard's flush ``FLUSH_LEAD`` earlier, so
        what an unterminated sysex held back arrives before the input is read."""
        self.watch.thinking("waiting for", k)
        if self.flush is not None:
            if not self.timing.wait_to_compute(k, self.stop_event, self.lookahead + FLUSH_LEAD, self._idle):
                return False
            self.flush()
        return self.timing.wait_to_compute(k, self.stop_event, self.lookahead, self._idle)

    def _think(self, k: int) -> RawToken:
        self.watch.thinking("hearing the input for", k)
        self._hear()
        with self.lock:  # what was played at k-1 is the sender's
            token_id = self.performance.fold(k - 1)
        self.watch.thinking("pushing the tokens for", k)
        self.performance.push(token_id)  # the models' steps, outside the lock
        self.watch.thinking("deciding", k)
        return self.performance.decide(k)

    def _hear(self) -> None:
        lookahead = self.lookahead
        listen = (lambda s: self.recording.heard(s.message, s.time)) if self.recording is not None else None
        effects = self.performance.hear(self.inputs.drain(),
                                        lambda stamp: self.timing.input_step(stamp, lookahead), listen)
        if effects:
            self._carry_out(effects)

    def _idle(self) -> None:
        """While the DAW is stopped: controls still act, notes played meanwhile are let go."""
        self.thinker_seen = time.monotonic()
        try:
            self._hear()
        except Exception as err:
            self._once(err)
        self.performance.forget_input()

    def _carry_out(self, effects: list[Effect]) -> None:
        with self.lock:
            for e in effects:
                if e.kind == SILENCE:
                    self.writer.all_notes_off()
                elif e.kind == RELEASE:
                    self.writer.release()
                elif e.kind == FORWARD:
                    self.writer.send(e.value)
                elif e.kind == TEMPO:
                    self._set_tempo(*e.value)

    def _set_tempo(self, bpm: float, source: str) -> None:
        """With the lock held: from the next boundary on (a DAW's clock keeps its own)."""
        if self.timing.following:
            if bpm != self.timing.tempo_bpm() and "following" not in self.errors_seen:
                self.errors_seen.add("following")
                log.info("tempo follows the MIDI clock: %s tempo changes are ignored", source)
        elif bpm != self.timing.tempo_bpm():
            self.timing.set_tempo(bpm, self.step + 1)
            log.info("tempo %.1f BPM (%s)", bpm, source)

    def _scheduled(self, priority: int) -> None:
        """This step thread under real-time scheduling where granted (``realtime``); said once."""
        name = threading.current_thread().name
        why = realtime.request(priority)
        if why is None:
            log.info("%s thread: real-time scheduling (SCHED_FIFO %d)", name, priority)
        elif "realtime" not in self.errors_seen:
            self.errors_seen.add("realtime")
            log.info("step threads: normal scheduling, real-time %s", why)

    def _once(self, err: Exception) -> None:
        if type(err).__name__ not in self.errors_seen:
            self.errors_seen.add(type(err).__name__)
            log.exception("error in the step loop (logged once per kind): %s", err)

    # -- from the main thread --------------------------------------------------------------

    def port_lost(self, kind: str) -> None:
        """A port went away: silence our notes where we still can; a lost keyboard lifts its keys."""
        with self.lock:
            if kind == "output":
                self.writer.failed = True  # the port watcher has said it; no second line per note
            self.writer.release()
            if kind == "input":
                self.performance.lost_input()

    def port_event(self, event: str) -> None:
        """What ``Ports.check`` saw: '<kind> lost', '<kind> back', 'output disconnected' or
        'output reconnected'. An output that is (re)opened or connected again first gets
        all-sound-off and all-notes-off on our channel, so nothing is left sounding there."""
        kind, _, what = event.partition(" ")
        if what == "lost":
            self.port_lost(kind)
        elif kind == "output" and what in ("back", "reconnected"):
            with self.lock:
                self.writer.hygiene()
        elif event == "output disconnected":
            with self.lock:
                self.writer.release()  # their note-offs reach the ports still connected

    def describe_state(self) -> str:
        return self.status.describe(self.step, self.late)

    def apply(self, sampler: SamplerSettings, live: LiveSettings, controls: ControlSettings) -> None:
        """Settings from a config reload that can change while playing (the rest need a restart)."""
        with self.lock:
            self.performance.set_sampler(sampler)
            self.writer.configure(live.output_channel - 1, live.pitch_low, live.pitch_high)
            self.lookahead = live.lookahead_ms / 1000.0
        self._carry_out(self.performance.configure(live, controls) + [Effect(TEMPO, (live.tempo_bpm, "config"))])
