"""The daemon's shell: start the parts in order, stop them in reverse, in ``finally``.

SIGINT and SIGTERM take the same path (exit 0): stop the threads, silence every
note we sent (note-offs, then CC 123 on our channel), close the output, then the
input. SIGUSR1 logs the player's state. SIGHUP reads the config file again: what
can change while playing is applied, the rest is named as waiting for a restart,
and an invalid file leaves the running settings as they were.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
import time
from typing import Callable

from liveplay.bundle import load_bundle
from liveplay.config import LEARNABLE, Settings, to_dict
from liveplay.engine import make_engine
from liveplay.errors import EXIT_OK, EXIT_RUNTIME, LiveplayError
from liveplay.generate import prime_ids
from liveplay.midiclock import ClockFollower, ticks_per_step
from liveplay.player import Player
from liveplay.ports import CLIENT_NAME, DEAD_PORTS, InputQueue, Ports
from liveplay.sampler import Sampler
from liveplay.sdnotify import Notifier

log = logging.getLogger(__name__)


def how_to_connect(api: str, ports: Ports) -> str:
    if ports.targets.get("input") and ports.targets.get("output"):
        return f"listening to '{ports.targets['input']}', playing to '{ports.targets['output']}'"
    ins, outs = (n if ":" in n else f"{CLIENT_NAME}:{n}" for n in (ports.input.name, ports.output.name))
    if api == "jack":
        return (f"connect a keyboard: jack_connect '<keyboard port>' '{ins}'; "
                f"a synth: jack_connect '{outs}' '<synth port>' (jack_lsp lists ports)")
    return f"connect a keyboard: aconnect '<keyboard>' '{CLIENT_NAME}'; a synth: aconnect '{CLIENT_NAME}' '<synth>' " \
           f"(aconnect -l lists clients)"


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
                "live.virtual", "live.steps_per_beat", "live.queue_size", "live.prime")


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


def run(settings: Settings, reload: Callable[[], Settings] | None = None) -> int:
    live = settings.live
    stop = threading.Event()
    player: Player | None = None
    notifier = Notifier()  # systemd Type=notify: READY once playing, WATCHDOG from the step loop

    stopped_by: list[str] = []
    code = EXIT_OK

    def on_stop(signum, _frame):
        stopped_by.append(signal.Signals(signum).name)  # logged after the status line has ended
        stop.set()

    hup = threading.Event()

    def on_hup(_signum, _frame):
        hup.set()  # reloaded by the main loop, not inside the handler

    def on_usr1(_signum, _frame):
        if player is not None:
            log.info("state: %s", player.describe_state())

    previous = {s: signal.signal(s, on_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, on_usr1)
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        bundle = load_bundle(settings.model.path)
        engine = make_engine(bundle, settings.engine, settings.engine_threads)
        prime = prime_ids(bundle, live.prime, settings.grid.skip_drums) if live.prime else []
        sampler = Sampler(settings.sampler)
        steps_per_beat = live.steps_per_beat or bundle.grid.steps_per_beat
        if settings.clock.send:
            ticks_per_step(steps_per_beat)  # the grid must fall on MIDI clock ticks
        follower = ClockFollower(steps_per_beat, live.tempo_bpm) if settings.clock.source == "midi" else None
        inputs = InputQueue(live.queue_size, follower.on_message if follower else None)
        ports = Ports(live.api, live.input, live.output, live.virtual, inputs)
        try:
            player = Player(engine, bundle.vocab, sampler, live, settings.controls, steps_per_beat, ports.send,
                            inputs, prime, pet_watchdog=notifier.pet, follower=follower,
                            send_clock=settings.clock.send)
            realtime_interpreter()
            player.start()
            timing = ("following the MIDI clock on the input (waiting for Start)" if follower else
                      f"at {live.tempo_bpm:.1f} BPM" + (", sending MIDI clock" if settings.clock.send else ""))
            notifier.ready(f"{live.mode} {timing} on {ports.api.upper()}")
            log.info("playing %s in %s mode %s (%d steps a beat) on channel %d; model %s, engine %s",
                     ports.api.upper(), live.mode, timing, steps_per_beat, live.output_channel,
                     bundle.name, engine.name)
            log.info("%s", describe_controls(settings.controls))
            log.info("%s", how_to_connect(ports.api, ports))
            next_check = 0.0
            while not stop.wait(0.25):
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + 0.5
                    for event in ports.check():
                        if event.endswith("lost"):
                            player.port_lost(event.split()[0])
                if hup.is_set():
                    hup.clear()
                    if reload is None:
                        log.warning("SIGHUP: no config file to reload")
                    else:
                        settings = reload_into(player, settings, reload)
                if not all(t.is_alive() for t in player.threads):
                    log.error("a player thread ended unexpectedly: stopping")
                    code = EXIT_RUNTIME
                    break
        finally:
            notifier.stopping()
            if player is not None:
                player.stop()
                log.info("stopped%s: every note silenced; %d late step(s)%s",
                         f" by {stopped_by[0]}" if stopped_by else "", player.state.late,
                         f"; {player.ticks_sent} MIDI clock ticks sent" if player.send_clock else "")
            ports.close()
    finally:
        notifier.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if DEAD_PORTS:  # ports of a JACK server that went away: freeing them would crash in libjack
        logging.shutdown()
        os._exit(code)
    return code
