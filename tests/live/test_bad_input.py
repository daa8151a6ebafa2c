"""Bad and unexpected live input on a real JACK server: no crash, the clock stays on the grid,
no note left hanging, memory flat; and the daemon opens no network socket."""

import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from jacktools import Daemon, Recorder, assert_on_time, flood, grid_fit, onset_times, raw_sender, rss_kb

pytestmark = pytest.mark.slow


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def network_inodes() -> set[str]:
    found = set()
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        path = Path("/proc/net") / table
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                found.add(line.split()[9])
    return found


def test_battery_of_bad_input(jack_server, tiny_config, tiny_model, tmp_path):
    config = tmp_path / "live.yaml"
    config.write_text(tiny_config.read_text() + "live:\n  silence_steps: 3\n")
    d = Daemon(jack_server, ["--config", str(config), "--model", str(tiny_model), "--mode", "accompany",
                             "--tempo", "150"], tmp_path / "daemon.log")
    rec = Recorder(d.out_port)
    out = raw_sender(d.in_port)
    rng = random.Random(0)
    step = 60 / 150 / 2
    try:
        time.sleep(1.0)
        rss_start = rss_kb(d.proc.pid)
        odd = [
            [0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7],  # sysex (identity request)
            [0xF0] + [rng.randrange(128) for _ in range(200)] + [0xF7],  # a long sysex
            [0xF4], [0xF5], [0xF9], [0xFD],  # undefined status bytes
            [0xF8], [0xFA], [0xFB], [0xFC], [0xFE], [0xFF],  # clock and realtime on the internal clock
            [0xF2, 0x10, 0x02], [0xF3, 0x05], [0xF1, 0x23],  # song position, song select, quarter frame
            [0xA0, 60, 40], [0xD0, 50], [0xE0, 0, 64], [0xC0, 5],  # aftertouch, pressure, bend, program
        ]
        for msg in odd:
            out.send_message(msg)
        for ch in range(16):  # notes on every channel, some never released, velocity 0 as note-off
            out.send_message([0x90 | ch, 60 + ch, 100])
            out.send_message([0x90 | ch, 60 + ch, 0])
            out.send_message([0x90 | ch, 40 + ch, 90])  # no note-off: a stuck key
        for _ in range(500):  # a CC flood
            out.send_message([0xB0 | rng.randrange(16), rng.choice([1, 7, 10, 64, 74]), rng.randrange(128)])
        flood(out, 10.0, 10_000, rng, odd)  # 10 000 messages/s for 10 s
        time.sleep(1.0)
        assert d.proc.poll() is None, d.log()
        rss_end = rss_kb(d.proc.pid)
        network = socket_inodes(d.proc.pid) & network_inodes()
        code = d.stop(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        out.close_port()
        del out
        rec.close()
    log = d.log()
    assert code == 0, log
    assert not network, f"the daemon holds network sockets: {network}"
    assert "Traceback" not in log, log
    assert rss_end - rss_start < 20_000, (rss_start, rss_end)  # flat: no growth with the flood
    ours = [e for e in rec.note_ons() if e.message.channel == 0]
    onsets = onset_times(ours)
    assert len(onsets) >= 20, log
    residuals, _ = grid_fit(onsets, step)
    assert_on_time(residuals)
    assert rec.sounding() == set()
