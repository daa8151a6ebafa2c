"""The daemon's shell: start the parts in order on one ``ExitStack``, so they stop in reverse.

Start: signals, systemd notifier, bundle, engine (its worker pool closes at the end), MIDI
input queue and ports (a missing MIDI system or port is waited for, not fatal), note writer
(all-sound-off and all-notes-off first, for a killed predecessor's notes), timing, the
performance and the player. SIGINT and SIGTERM take the same path (exit 0): stop the threads,
silence every note we sent (note-offs, then CC 123 on our channel), close the output, then the
input. SIGUSR1 logs the player's state. SIGHUP reads the config file again: what
can change while playing is applied, the rest is named as waiting for a restart,
and an invalid file leaves the running settings as they were. A hang is diagnosable: SIGABRT
(what systemd sends when the watchdog runs out) and a crash print every thread's stack. A stop
has ``STOP_DEADLINE``: one that libjack keeps waiting on a server that never answers prints the
stacks and leaves with exit 1.
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import os
import signal
import sys
import threading
import time
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Callable

from liveplay.config import LEARNABLE, Settings, to_dict
from liveplay.errors import EXIT_OK, EXIT_RUNTIME, BundleError, LiveplayError, UsageError, require_extra
from liveplay.live.inputs import InputQueue
from liveplay.live.jacknoise import quiet_libjack
from liveplay.live.midiclock import ClockFollower
from liveplay.live.performance import Performance, Voice
from liveplay.live.player import Player
from liveplay.live.ports import DEAD_PORTS, Ports
from liveplay.live.recording import SessionRecording
from liveplay.live.sdnotify import Notifier
from liveplay.live.synth import CLIENT as SYNTH_CLIENT
from liveplay.live.synth import Synth
from liveplay.live.system import find_api
from liveplay.live.timing import InternalTiming, MidiClockTiming, Timing
from liveplay.live.writer import NoteWriter
from liveplay.model.bundle import load_bundle
from liveplay.model.keyframe import for_play, key_normalised
from liveplay.model.runtime import engine_for, keeper_for, make_engine
from liveplay.music.context import Context
from liveplay.music.duet import START_PRIME
from liveplay.music.sampler import Sampler

log = logging.getLogger(__name__)


def realtime_interpreter() -> None:
    """Shorter GIL hand-overs and cheap garbage collections for the step threads.

    A thread that wakes for a boundary or a clock tick must get the GIL while the engine's
    threads compute: the switch interval bounds how long a pure-Python stretch can keep it
    (5 ms by default). Everything loaded so far (modules, model, vocabulary) is frozen out of
    the collector, so a full collection in mid-performance only walks what playing allocates.
    """
    sys.setswitchinterval(0.0005)
    gc.collect()
    gc.freeze()


def describe_controls(c) -> str:
    """The CC map as one line (what `liveplay learn` changes)."""
    mapped = [f"CC {getattr(c, name)} {name.replace('_', '-')}" for name in LEARNABLE if getattr(c, name) is not None]
    channel = f"channel {c.channel}" if c.channel else "any channel"
    return (f"controls ({channel}): {', '.join(mapped) or 'none mapped'}; CC 120/123 always silence "
            f"(`liveplay learn CONTROL` maps a knob)")


# settings a reload cannot change while playing: they take effect at the next start
RESTART_ONLY = ("model", "grid", "engine", "engine_threads", "clock", "live.api", "live.input", "live.output",
                "live.virtual", "live.steps_per_beat", "live.queue_size", "live.prime", "live.record", "live.synth",
                "live.realtime_priority")
START_DELAY = 0.2  # s from start to the first boundary: the threads are up, the first chord decided
STOP_DEADLINE = 8.0  # s a stop may take before the daemon leaves anyway (under systemd's TimeoutStopSec=10)


def reload_into(player: Player, running: Settings, reload: Callable[[], Settings]) -> Settings:
    """SIGHUP: read the config again; apply it, or keep the running settings and say why."""
    try:
        new = reload()
    except LiveplayError as err:
        log.error("config reload failed, the running settings stay: %s", err)
        return running
    old_tree, new_tree = to_dict(running), to_dict(new)
    for key in RESTART_ONLY:
        section, _, leaf = key.partition(".")
        before = old_tree[section][leaf] if leaf else old_tree[section]
        after = new_tree[section][leaf] if leaf else new_tree[section]
        if before != after:
            log.warning("config reload: %s changed, takes effect at the next start", key)
    player.apply(new.sampler, new.live, new.controls)
    log.info("config reloaded")
    return new


class Signals:
    """SIGINT and SIGTERM stop (one path), SIGHUP asks for a reload, SIGUSR1 for the state line;
    the previous handlers come back on exit. Handlers only set flags: the main loop acts."""

    def __init__(self):
        self.stop = threading.Event()
        self.hup = threading.Event()
        self.by: list[str] = []
        self.usr1: Callable[[], None] = lambda: None

    def __enter__(self) -> "Signals":
        def on_stop(signum, _frame):
            self.by.append(signal.Signals(signum).name)  # logged after the status line has ended
            self.stop.set()

        self.previous = {s: signal.signal(s, on_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        self.previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: self.hup.set())
        self.previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, lambda *_: self.usr1())
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def run(settings: Settings, reload: Callable[[], Settings] | None = None) -> int:
    """The daemon: start the parts in order on one ExitStack, so they stop in reverse."""
    live = settings.live
    code = EXIT_OK
    quiet_libjack()  # libjack's own messages go to the debug log, before any JACK client opens
    faulthandler.enable()  # SIGABRT (a watchdog's stop), SIGSEGV in libjack: every thread's stack, to stderr
    with ExitStack() as stack:
        stack.callback(faulthandler.cancel_dump_traceback_later)  # the stop's deadline, below: met
        signals = stack.enter_context(Signals())
        notifier = stack.enter_context(closing(Notifier()))  # READY once playing, WATCHDOG from the sender
        bundle = load_bundle(settings.model.path)
        if settings.engine == "tensorflow":
            require_extra("train", "tensorflow", "engine: tensorflow")
        # a key-normalised model plays through a key frame: concert pitch in and out (model/keyframe.py)
        vocab, engine = for_play(bundle, engine_for(bundle, settings.model, settings.engine, settings.engine_threads))
        stack.callback(engine.close)  # the engine's worker threads
        prime = bundle.encode_file(live.prime, settings.grid.skip_drums, vocab) if live.prime else []
        steps_per_beat = live.steps_per_beat or bundle.grid.steps_per_beat
        duet = _duet(stack, settings, bundle.grid.steps_per_beat)  # loaded now: a mode change by CC loads nothing
        follower = ClockFollower(steps_per_beat, live.tempo_bpm) if settings.clock.source == "midi" else None
        inputs = InputQueue(live.queue_size, follower.on_message if follower else None)
        output = _synth(stack, live) or live.output
        ports = Ports(live.api, live.input, output, live.virtual, inputs.on_bytes)
        stack.callback(ports.close)  # outputs before inputs (and before the synth stops)
        first_boundary = time.monotonic() + START_DELAY
        recording = SessionRecording(live.record, live.tempo_bpm, first_boundary) if live.record else None
        if recording is not None:
            stack.callback(lambda: recording.close(time.monotonic()))  # after the player's last note-offs
        writer = NoteWriter(_recorded(ports.send, recording), live.output_channel - 1, live.pitch_low,
                            live.pitch_high)
        timing: Timing = (MidiClockTiming(follower, steps_per_beat) if follower else
                          InternalTiming(live.tempo_bpm, steps_per_beat, writer.send if settings.clock.send else None))
        if "output" not in ports.missing:
            writer.hygiene()  # notes a killed predecessor left sounding stop before our first one
        keeper = keeper_for(bundle, vocab, engine, settings.model.key_keeping)  # the musician's key kept
        performance = Performance(vocab, Context(engine, prime), Sampler(settings.sampler), live,
                                  settings.controls, steps_per_beat, writer.is_ours, duet, keeper)
        player = Player(performance, timing, writer, inputs, live, pet_watchdog=notifier.pet, flush=ports.flush,
                        recording=recording)
        for kind in ports.missing:
            player.port_lost(kind)
        signals.usr1 = lambda: log.info("state: %s", player.describe_state())
        realtime_interpreter()
        player.start(first_boundary)
        stack.callback(_stopped, player, signals, timing)  # before the ports close: every note silenced
        stack.callback(notifier.stopping)
        # the stop, from here, has STOP_DEADLINE: a libjack call that waits for a server that never
        # answers (seen in JackGraph.close) must not keep a stopped daemon alive. faulthandler's
        # timer is a C thread, so it acts whoever holds the GIL: the stacks to stderr, then exit 1.
        stack.callback(faulthandler.dump_traceback_later, STOP_DEADLINE, exit=True)
        stack.callback(player.disarm)  # the timer was the stall dump's (LIVEPLAY_STALL_DUMP): the deadline's now
        how = ("following the MIDI clock on the input (waiting for Start)" if follower else
               f"at {live.tempo_bpm:.1f} BPM" + (", sending MIDI clock" if settings.clock.send else ""))
        where = ports.api.upper() if ports.api else "no MIDI system yet"
        notifier.ready(f"{live.mode} {how} on {where}")
        log.info("playing %s in %s mode %s (%d steps a beat) on channel %d; model %s, engine %s%s",
                 where, live.mode, how, steps_per_beat, live.output_channel, bundle.name, engine.name,
                 f"; accompany plays the duet model {settings.model.duet} ({duet.context.engine.name})" if duet else "")
        log.info("%s", describe_controls(settings.controls))
        log.info("%s", ports.hint())
        next_check = 0.0
        while not signals.stop.wait(0.25):
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 0.5
                for event in ports.check():
                    player.port_event(event)
            timing.report()
            if recording is not None and recording.due(time.monotonic()):
                recording.flush(time.monotonic())
            if signals.hup.is_set():
                signals.hup.clear()
                if reload is None:
                    log.warning("SIGHUP: no config file to reload")
                else:
                    settings = reload_into(player, settings, reload)
            if not all(t.is_alive() for t in player.threads):
                log.error("a player thread ended unexpectedly: stopping")
                code = EXIT_RUNTIME
                break
    if DEAD_PORTS:  # ports of a JACK server that went away: freeing them would crash in libjack
        logging.shutdown()
        os._exit(code)
    return code


def _duet(stack: ExitStack, settings: Settings, steps_per_beat: int) -> Voice | None:
    """model.duet: the duet bundle accompany mode plays, with its engine and context; None without."""
    if not settings.model.duet:
        return None
    bundle = load_bundle(settings.model.duet)
    path = Path(settings.model.duet) / "manifest.json"
    if bundle.manifest.kind != "duet":
        raise BundleError(path, f"model.duet: a '{bundle.manifest.kind}' model, not a duet model")
    if bundle.grid.steps_per_beat != steps_per_beat:
        raise BundleError(path, f"model.duet: {bundle.grid.steps_per_beat} steps a beat, the model plays "
                                f"{steps_per_beat}: the two must share a grid")

    def engine():
        return make_engine(bundle, settings.engine, settings.engine_threads, harmony=settings.model.harmony)

    # a key-normalised duet gets a spare engine: when its key frame moves it re-hears the last two
    # bars in the new key and takes over (keyframe.KeyFrameEngine; models/duet/README.md)
    spare = engine() if key_normalised(bundle) else None
    vocab, framed = for_play(bundle, engine(), spare=spare)
    stack.callback(framed.close)
    return Voice(vocab, Context(framed, START_PRIME), Sampler(settings.sampler.accompanying()))


def _synth(stack: ExitStack, live) -> str | None:
    """--synth: FluidSynth on the MIDI system there is now; returns the output to play into."""
    if not live.synth:
        return None
    if live.output:
        raise UsageError("--synth plays into FluidSynth and --out names another port: give one of them")
    api = find_api(live.api)
    if api is None:
        log.warning("--synth: no MIDI system yet, so no FluidSynth; liveplay waits for '%s'", SYNTH_CLIENT)
    else:
        stack.callback(Synth(api).stop)
    return SYNTH_CLIENT


def _recorded(send: Callable, recording: SessionRecording | None) -> Callable:
    """The output's send, also writing each message sent into the recording."""
    if recording is None:
        return send

    def send_and_record(message) -> None:
        send(message)
        recording.played(message, time.monotonic())

    return send_and_record


def _stopped(player: Player, signals: Signals, timing: Timing) -> None:
    player.stop()
    timing.report()
    sent = timing.ticks_sent if isinstance(timing, InternalTiming) and timing.send else None
    log.info("stopped%s: every note silenced; %d late step(s)%s",
             f" by {signals.by[0]}" if signals.by else "", player.late,
             f"; {sent} MIDI clock ticks sent" if sent is not None else "")
