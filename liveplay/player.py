"""The live performance: modes, the rolling context, the step loop, note writing, controls.

Two named threads share one ``StepClock`` (boundary k at B_k):

- **sender** ("step"): waits for B_k and sends the chord decided for step k, or --
  when it is not ready -- HOLDs and counts the step as late. Sending never waits
  for computing.
- **thinker** ("engine"): at C_k = B_k - lookahead it drains the input queue
  (controls, the musician's notes), folds step k-1 into the context, and
  decides step k. It holds the shared lock only to touch the note writer, the
  clock and the decisions -- never while handling input or running the model.

Quantising the musician (documented rule): a note-on that arrives in
(C_{k-1}, C_k] belongs to step k-1. So a note played up to ``lookahead_ms``
early counts for the coming step, a late one for the step it is late in, and
whatever arrives more than ``lookahead_ms`` before boundary k shapes the chord
played at k. The musician's step token is the chord of those onsets, else HOLD
while any of their keys is down, else nothing (our own token stands).

Modes (``MODES``): respond -- silent while the musician plays; after
``silence_steps`` steps without their input it answers for at most
``max_response_steps`` steps, and stops at the next boundary when they play
again; accompany -- plays every step, the musician's chords enter the context
(they replace ours for that step); solo -- plays alone, input only controls.

A key held down sustains the musician's chord (HOLD in the context) for at most
``HELD_LIMIT_BEATS`` beats after their last onset; past that it is taken as a
stuck key (a lost note-off) and no longer keeps respond mode quiet.

Our notes coming back on the input (a loop through a DAW): a note message on
``output_channel`` whose pitch we are sounding or sent in the last two steps is
taken as ours and ignored.

Every note-on sent gets its note-off: on chord change and REST, mode switch,
panic (CC ``panic``, CC 120, CC 123), mute, and at stop, which also sends CC 123
on our channel.

Timing: the internal ``StepClock`` (optionally sending MIDI clock: 24 ticks a
beat on the output, Start at the first boundary, Stop at the end; each tick's
time comes from the same absolute schedule, so nothing drifts), or a DAW's MIDI
clock (``ClockFollower``): then the sender waits for each boundary's tick, and
the thinker works ahead of the boundary the tempo estimate predicts.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

import mido

from liveplay.clock import StepClock, wait_until
from liveplay.config import ControlSettings, LiveSettings, SamplerSettings
from liveplay.engine import Engine
from liveplay.midiclock import ClockFollower, ticks_per_step
from liveplay.ports import InputQueue
from liveplay.sampler import Sampler
from liveplay.tokens import HOLD, HOLD_ID, REST, REST_ID, RawToken, Vocabulary, describe, make_chord

log = logging.getLogger(__name__)

MODES = ("respond", "accompany", "solo")
HELD_LIMIT_BEATS = 8  # keys down longer than this without a new onset are taken as stuck
ALL_SOUND_OFF, ALL_NOTES_OFF = 120, 123
CLOCK_TICK = mido.Message("clock")


class NoteWriter:
    """Turns step tokens into note messages; remembers what sounds so it can always silence it."""

    def __init__(self, send: Callable[[mido.Message], None], channel: int, low: int, high: int):
        self._send = send
        self.channel = channel
        self.low, self.high = low, high
        self.sounding: tuple[int, ...] = ()
        self.sent_at: dict[int, float] = {}  # pitch -> last note_on time (loopback filter)
        self.failed = False
        self.errors = 0

    def send(self, msg: mido.Message) -> None:
        try:
            self._send(msg)
            if self.failed:
                log.debug("MIDI output works again")
            self.failed = False
        except Exception as err:  # a vanished port must not stop the clock
            self.errors += 1
            if not self.failed:
                log.warning("MIDI output failed (%s); the clock goes on", err)
            self.failed = True

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

    def play(self, token: RawToken, velocity: int) -> None:
        if token == HOLD:
            return
        self.release()
        if token == REST:
            return
        now = time.monotonic()
        for p in self.clamp(token):
            self.send(mido.Message("note_on", channel=self.channel, note=p, velocity=velocity))
            self.sent_at[p] = now
        self.sounding = self.clamp(token)

    def release(self) -> None:
        for p in self.sounding:
            self.send(mido.Message("note_off", channel=self.channel, note=p, velocity=0))
        self.sounding = ()

    def all_notes_off(self) -> None:
        self.release()
        self.send(mido.Message("control_change", channel=self.channel, control=ALL_NOTES_OFF, value=0))

    def is_ours(self, msg: mido.Message, window: float) -> bool:
        if msg.channel != self.channel:
            return False
        return msg.note in self.sounding or time.monotonic() - self.sent_at.get(msg.note, -1e9) < window


@dataclass
class PlayerState:
    mode: str
    step: int = 0  # last step sent
    late: int = 0
    current: RawToken = REST
    responding: int = 0  # steps answered in the current response (respond mode)
    quiet: int = 0  # steps since the musician's last input
    since_onset: int = 0  # steps since the musician's last onset
    velocities: deque = field(default_factory=lambda: deque(maxlen=8))
    held: set = field(default_factory=set)  # the musician's keys down
    muted: bool = False  # CC mute: thinking and listening go on, nothing sounds


class Player:
    def __init__(self, engine: Engine, vocab: Vocabulary, sampler: Sampler, live: LiveSettings,
                 controls: ControlSettings, steps_per_beat: int, send: Callable[[mido.Message], None],
                 inputs: InputQueue, prime: Sequence[int] = (), status: bool | None = None,
                 pet_watchdog: Callable[[], None] | None = None, follower: ClockFollower | None = None,
                 send_clock: bool = False):
        self.engine, self.vocab, self.sampler = engine, vocab, sampler
        self.live, self.controls = live, controls
        self.inputs = inputs
        self.writer = NoteWriter(send, live.output_channel - 1, live.pitch_low, live.pitch_high)
        self.state = PlayerState(live.mode)
        self.clock = StepClock(live.tempo_bpm, steps_per_beat, time.monotonic())
        self.lock = threading.Lock()  # writer, decisions, state shared by the two threads
        self.stop_event = threading.Event()
        self.decided: dict[int, RawToken] = {}
        self.played: dict[int, RawToken] = {}
        self.history: deque[int] = deque([REST_ID] + list(prime), maxlen=max(engine.context_length, 64))
        self.engine.reset(list(self.history))
        self.onsets: list[int] = []  # the musician's pitches in the current input window
        self.first_boundary: float | None = None
        self.status = sys.stderr.isatty() if status is None else status
        self.threads: list[threading.Thread] = []
        self.errors_seen: set[str] = set()
        self.pet_watchdog = pet_watchdog
        self.last_decided = 0  # the thinker's last decided step (the watchdog's sign of life)
        self.follower = follower  # None: the internal clock
        self.thinker_seen = time.monotonic()
        self.send_clock = send_clock and follower is None
        self.ticks_sent = 0  # MIDI clock ticks handed to the output

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, delay: float = 0.2) -> None:
        self.clock.anchor_time = time.monotonic() + delay
        self.clock.anchor_step = 0
        self.first_boundary = self.clock.anchor_time
        log.debug("first boundary at monotonic %.6f", self.first_boundary)
        with self.lock:
            self.decided[0] = self._decide(0)
        sender = self._follow_sender if self.follower is not None else self._sender
        self.threads = [threading.Thread(target=sender, name="step", daemon=True),
                        threading.Thread(target=self._thinker, name="engine", daemon=True)]
        for t in self.threads:
            t.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout)
            if t.is_alive():
                log.error("thread %s did not stop within %.1f s", t.name, timeout)
        with self.lock:
            if self.send_clock:
                self.writer.send(mido.Message("stop"))
            self.writer.all_notes_off()
        if self.status:
            sys.stderr.write("\n")

    # -- the sender ------------------------------------------------------------------------

    def _sender(self) -> None:
        """Internal clock: wait for each boundary (sending the MIDI clock ticks on the way) and play."""
        k = 0
        while not self.stop_event.is_set():
            with self.lock:
                due = self.clock.boundary(k)
                previous = self.clock.boundary(k - 1)  # a tempo change keeps boundary k where it is
            if self.send_clock and not self._send_ticks(k, previous, due):
                return
            if not wait_until(due, self.stop_event):
                return
            if self.send_clock:
                if k == 0:
                    self.writer.send(mido.Message("start"))  # the tick after Start is the downbeat
                self._tick()
            self._boundary(k)
            k += 1

    def _send_ticks(self, k: int, previous: float, due: float) -> bool:
        """The MIDI clock ticks between boundary k-1 and boundary k (not the one on k)."""
        ticks = ticks_per_step(self.clock.steps_per_beat)
        for j in range(1, ticks) if k > 0 else ():
            if not wait_until(previous + (due - previous) * j / ticks, self.stop_event):
                return False
            self._tick()
        return True

    def _tick(self) -> None:
        errors = self.writer.errors
        self.writer.send(CLOCK_TICK)
        self.ticks_sent += self.writer.errors == errors

    def _follow_sender(self) -> None:
        """MIDI clock: wait for each boundary's tick and play at once; silence at Stop or a lost clock."""
        follower = self.follower
        k, silence = 0, 0
        while not self.stop_event.is_set():
            what, now_silence = follower.wait(k, silence, self.stop_event)
            if what == "stop":
                return
            if what == "idle":  # the DAW is stopped: no boundaries, but both threads are alive
                if self.pet_watchdog is not None and self.thinker_alive():
                    self.pet_watchdog()
                continue
            if what == "silence":
                silence = now_silence
                with self.lock:
                    self.writer.release()
                continue
            with self.lock:
                self.clock.tempo_bpm = follower.tempo_bpm()
            if not self._boundary(k, lambda: follower.silence == silence):
                continue  # stopped between the tick and now: the next wait silences
            k += 1

    def _boundary(self, k: int, still: Callable[[], bool] | None = None) -> bool:
        """Play step k's decided token (HOLD when it is not ready: a late step)."""
        with self.lock:
            if still is not None and not still():
                return False
            token = self.decided.pop(k, None)
            if token is None:
                self.state.late += 1
                token = HOLD
            if self.state.muted and token != HOLD:
                token = REST
            self.writer.play(token, self._velocity())
            if token != HOLD:
                self.state.current = token
            self.played[k] = token if (token != HOLD or self.writer.sounding) else REST
            self.played.pop(k - 8, None)
            self.state.step = k
        self._show(k, token)
        if self.pet_watchdog is not None and k - self.last_decided <= 8:
            self.pet_watchdog()  # both threads are alive: a stalled one lets systemd restart us
        return True

    def thinker_alive(self) -> bool:
        """While the transport is stopped the thinker shows life by its idle beats."""
        return time.monotonic() - self.thinker_seen < 5.0

    # -- the thinker -----------------------------------------------------------------------

    def _thinker(self) -> None:
        k = 1
        while not self.stop_event.is_set():
            if not self._wait_to_compute(k):
                return
            try:
                self._handle_input()  # takes the lock only for the writer and the clock
                with self.lock:
                    token_id = self._fold(k - 1)
                self.engine.push(token_id)  # the model's step, outside the lock: sending never waits for it
                token = self._guarded(lambda: self._decide(k), HOLD)
            except Exception as err:  # the loop goes on; the step plays HOLD
                self._once(err)
                token = HOLD
            with self.lock:
                if self.state.step < k:  # its boundary has not passed yet
                    self.decided[k] = token
                self.last_decided = k
                # a decision that came after its boundary was counted late by the sender
                k = max(k + 1, self.state.step + 1)
                for old in [s for s in self.decided if s < k - 1]:
                    del self.decided[old]

    def _wait_to_compute(self, k: int) -> bool:
        """Sleep until ``lookahead`` before boundary k (False at stop)."""
        if self.follower is None:
            with self.lock:
                lookahead = min(self.live.lookahead_ms / 1000.0, self.clock.step_seconds / 2)
                compute_at = self.clock.boundary(k) - lookahead
            return wait_until(compute_at, self.stop_event)
        while not self.stop_event.is_set():  # the boundary moves with the tempo and the transport
            due = self.follower.predict(k)
            self.thinker_seen = time.monotonic()
            if due is None:  # stopped or lost: controls still act, notes played meanwhile are let go
                self._guarded(self._handle_input, None)
                self.onsets = []
                self.follower.wait_running(self.stop_event, 0.05)
                continue
            step = self.follower.tick_seconds() * self.follower.ticks_per_step
            compute_at = due - min(self.live.lookahead_ms / 1000.0, step / 2)
            if time.monotonic() >= compute_at:
                return True
            wait_until(min(compute_at, time.monotonic() + 0.05), self.stop_event)
        return False

    def _guarded(self, fn, fallback):
        try:
            return fn()
        except Exception as err:
            self._once(err)
            return fallback

    def _once(self, err: Exception) -> None:
        kind = type(err).__name__
        if kind not in self.errors_seen:
            self.errors_seen.add(kind)
            log.exception("error in the step loop (logged once per kind): %s", err)

    def _handle_input(self) -> None:
        window = 2 * self.clock.step_seconds
        for stamped in self.inputs.drain():
            msg = stamped.message
            if msg.type == "control_change":
                self._control(msg)
            elif msg.type in ("note_on", "note_off"):
                if self.writer.is_ours(msg, window):
                    continue
                if self.live.passthrough:
                    with self.lock:
                        self.writer.send(msg)
                if msg.type == "note_on" and msg.velocity > 0:
                    self.onsets.append(msg.note)
                    self.state.held.add(msg.note)
                    self.state.velocities.append(msg.velocity)
                else:
                    self.state.held.discard(msg.note)
            # anything else (sysex, clock and other realtime bytes, aftertouch...) is not ours to act on
        if len(self.onsets) > 128:  # a flood: one step's chord keeps its highest notes anyway
            self.onsets = self.onsets[-128:]

    def _control(self, msg: mido.Message) -> None:
        c = self.controls
        if c.channel and msg.channel != c.channel - 1:
            return
        if msg.control in (ALL_SOUND_OFF, ALL_NOTES_OFF) or (msg.control == c.panic and msg.value >= 64):
            with self.lock:
                self.writer.all_notes_off()
            log.info("panic (CC %d): all our notes silenced", msg.control)
        elif msg.control == c.temperature:
            lo, hi = self.sampler.settings.min_temperature, self.sampler.settings.max_temperature
            t = math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * msg.value / 127)
            self.sampler.set_temperature(t)
            log.info("temperature %.2f (CC %d = %d)", self.sampler.temperature, msg.control, msg.value)
        elif msg.control == c.mode:
            self.set_mode(MODES[min(2, msg.value * 3 // 128)])
        elif msg.control == c.mute:
            muted = msg.value >= 64
            if muted != self.state.muted:
                with self.lock:
                    self.state.muted = muted
                    if muted:
                        self.writer.release()
                log.info("%s (CC %d = %d)", "muted" if muted else "unmuted", msg.control, msg.value)
        elif msg.control == c.reset_context:
            if msg.value >= 64:
                self.history.clear()
                self.history.append(REST_ID)
                self.engine.reset([REST_ID])  # the thinker's own thread: the engine is not shared
                log.info("context reset (CC %d): starting afresh", msg.control)
        elif msg.control == c.tempo:
            bpm = c.tempo_min + (c.tempo_max - c.tempo_min) * msg.value / 127
            if self.follower is not None:
                self._once_info("tempo follows the MIDI clock: CC tempo is ignored")
            elif bpm != self.clock.tempo_bpm:
                with self.lock:
                    self.clock.set_tempo(bpm, self.state.step + 1)
                log.info("tempo %.1f BPM (CC %d = %d)", bpm, msg.control, msg.value)

    def _once_info(self, text: str) -> None:
        if text not in self.errors_seen:
            self.errors_seen.add(text)
            log.info("%s", text)

    def set_mode(self, mode: str) -> None:
        with self.lock:
            self._set_mode(mode)

    def _set_mode(self, mode: str) -> None:
        """With the lock held: switch mode, releasing our notes."""
        if mode != self.state.mode:
            self.writer.release()
            self.state.mode = mode
            self.state.responding = 0
            log.info("mode %s", mode)

    def port_lost(self, kind: str) -> None:
        """A port went away: silence our notes where we still can; a lost keyboard lifts its keys."""
        with self.lock:
            if kind == "output":
                self.writer.failed = True  # the port watcher has said it; no second line per note
            self.writer.release()
            if kind == "input":
                self.state.held.clear()

    def apply(self, sampler: SamplerSettings, live: LiveSettings, controls: ControlSettings) -> None:
        """Settings from a config reload that can change while playing (the rest need a restart)."""
        with self.lock:
            self.sampler.configure(sampler)
            if live.tempo_bpm != self.live.tempo_bpm and self.follower is None:
                self.clock.set_tempo(live.tempo_bpm, self.state.step + 1)
                log.info("tempo %.1f BPM", live.tempo_bpm)
            self._set_mode(live.mode)
            w = self.writer
            if (live.output_channel - 1, live.pitch_low, live.pitch_high) != (w.channel, w.low, w.high):
                w.release()
                w.channel, w.low, w.high = live.output_channel - 1, live.pitch_low, live.pitch_high
            self.live, self.controls = live, controls

    def _fold(self, step: int) -> int:
        """Step ``step``'s token id for the context: the musician's token, else what we played."""
        s = self.state
        if self.onsets:
            player: RawToken | None = make_chord(self.onsets, self.vocab.max_notes)
            s.since_onset = 0
        else:
            s.since_onset += 1
            # keys down sustain the musician's chord, but a key held past HELD_LIMIT_BEATS without
            # a new onset is taken as stuck (a lost note-off) and no longer keeps liveplay quiet
            stuck = s.since_onset > HELD_LIMIT_BEATS * self.clock.steps_per_beat
            player = HOLD if (s.held and not stuck) else None
        self.onsets = []
        if player is None:
            s.quiet += 1
        else:
            s.quiet = 0
            s.responding = 0
        ours = self.played.get(step, REST)
        token = player if (player is not None and s.mode != "solo") else ours
        token_id = self.vocab.encode_token(token)
        if token is player:
            log.debug("step %d: the musician's %s enters the context as %s", step, describe(player),
                      describe(self.vocab.decode_token(token_id)))
        self.history.append(token_id)
        return token_id

    def _decide(self, step: int) -> RawToken:
        s = self.state
        if s.mode == "respond":
            if s.quiet < self.live.silence_steps or s.responding >= self.live.max_response_steps:
                return REST
            s.responding += 1
        token_id = self.sampler.sample(self.engine.distribution(), self.history)
        return self.vocab.decode_token(token_id)

    def _velocity(self) -> int:
        v = self.state.velocities
        if self.live.follow_velocity and v:
            return max(1, min(127, round(sum(v) / len(v))))
        return self.live.velocity

    # -- reporting -------------------------------------------------------------------------

    def describe_state(self) -> str:
        s = self.state
        tail = " ".join(describe(self.vocab.decode_token(t)) for t in list(self.history)[-16:])
        return (f"step {s.step}, tempo {self.clock.tempo_bpm:.1f} BPM, mode {s.mode}, temperature "
                f"{self.sampler.temperature:.2f}, late steps {s.late}, dropped input {self.inputs.dropped}, "
                f"context tail: {tail}" + (f"; {self.follower.describe()}" if self.follower else ""))

    def _show(self, k: int, token: RawToken) -> None:
        s = self.state
        position = self.follower.song_step if self.follower is not None else k  # the DAW's song position
        line = (f"{self.clock.tempo_bpm:6.1f} BPM  {s.mode:9} T {self.sampler.temperature:4.2f}  "
                f"{describe(s.current) if self.writer.sounding else '-':24} late {s.late}"
                f"{'  muted' if s.muted else ''}")
        if self.status:
            sys.stderr.write(f"\rstep {position:6d}  {line}")
            sys.stderr.flush()
        elif position % (4 * self.clock.steps_per_beat) == 0:
            log.info("bar %d: %s", position // (4 * self.clock.steps_per_beat) + 1, line.strip())
