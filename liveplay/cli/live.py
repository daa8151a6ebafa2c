"""The live commands: run (the daemon), learn (map a control to a knob), ports (list them)."""

from __future__ import annotations

import time

from liveplay.cli.common import settings_from
from liveplay.config import LEARNABLE, Settings, load_settings
from liveplay.errors import EXIT_OK, UsageError
from liveplay.userconfig import set_keys, user_config_path


def cmd_run(args) -> int:
    flags = {"model.path": args.model, "live.input": args.input, "live.output": args.output, "live.mode": args.mode,
             "live.tempo_bpm": args.tempo, "sampler.temperature": args.temperature, "live.api": args.api,
             "engine": args.engine, "live.prime": args.prime, "sampler.seed": args.seed,
             "clock.source": args.clock, "clock.send": args.send_clock or None, "live.record": args.record,
             "live.synth": args.synth or None}
    settings = settings_from(args, flags)

    from liveplay.live.app import run

    def reload() -> Settings:  # SIGHUP: the same file, the same flags on top
        return load_settings(args.config).override(flags)

    return run(settings, reload if args.config else None)


def cmd_learn(args) -> int:
    """Wait for the next control change on the input and map CONTROL to its CC number in the user's file."""
    from liveplay.errors import PortError
    from liveplay.live.inputs import InputQueue
    from liveplay.live.jacknoise import quiet_libjack
    from liveplay.live.ports import open_port
    from liveplay.live.system import choose_api

    control = args.control.replace("-", "_")
    path = args.config or str(user_config_path())
    settings = settings_from(args, {"live.api": args.api, "live.input": args.input})
    quiet_libjack()
    heard = InputQueue()
    wanted = settings.live.input  # a named input must be there; none: a virtual port of our own
    port = open_port(choose_api(settings.live.api), "input", wanted, client="liveplay-learn", port_name="in",
                     on_bytes=heard.on_bytes)
    if port is None:
        raise PortError(f"no MIDI input matches '{wanted}' (`liveplay ports` lists them)")
    where = f"'{port.target}'" if port.target else f"'{port.name}' (connect your controller to it)"
    print(f"move the knob, fader or button for {args.control} now: listening on {where}", flush=True)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    try:
        msg = None
        while msg is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise UsageError(f"no control change came within {args.timeout:g} s; nothing was changed")
            time.sleep(0.02)
            for stamped in heard.drain():
                m = stamped.message
                if m.type != "control_change":
                    continue
                if m.control >= 120:
                    print(f"CC {m.control} is a channel mode message (always silences); try another control")
                    continue
                msg = m
                break
    finally:
        port.close()
    current = settings.controls
    changes: dict = {control: msg.control}
    for other in LEARNABLE:
        if other != control and getattr(current, other) == msg.control:
            changes[other] = None  # a CC drives one control
            print(f"CC {msg.control} was {other.replace('_', '-')}: that one is now unmapped")
    set_keys(path, "controls", changes)
    print(f"CC {msg.control} (channel {msg.channel + 1}) -> {args.control}; saved in {path}")
    if current.channel and current.channel != msg.channel + 1:
        print(f"note: controls.channel is {current.channel}, so liveplay listens to controls on that channel only")
    print("a running liveplay takes it on SIGHUP (systemctl --user reload liveplay) or at its next start")
    return EXIT_OK


def cmd_ports(args) -> int:
    from liveplay.live.jacknoise import quiet_libjack
    from liveplay.live.system import describe_ports

    settings = settings_from(args, {"live.api": args.api})
    quiet_libjack()  # a server that goes away while we look: liveplay's own message, not libjack's
    print(describe_ports(settings.live.api))
    return EXIT_OK
