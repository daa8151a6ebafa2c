"""Hostile but realistic live input on a real JACK server: a stray sysex start, a killed liveplay,
a connection pulled while notes sound, and what our ports are called."""

import re
import signal
import subprocess
import time

import mido
import pytest

from jacktools import Daemon, Recorder, connect, onset_times, raw_sender

pytestmark = pytest.mark.slow


def args(config, model, *extra):
    return ["--config", str(config), "--model", str(model), "--seed", "1", *extra]


def wait_sounding(rec: Recorder, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not rec.sounding() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.sounding(), "nothing sounded"


def test_a_stray_sysex_start_blocks_nothing(jack_server, tiny_config, tiny_model, tmp_path):
    """F0 7D 01 with no F7 (a flaky controller, a cut cable): the panic and mute CCs that follow
    still act within one step, and SIGUSR1 counts what was repaired."""
    d = Daemon(jack_server, args(tiny_config, tiny_model, "--mode", "solo", "--tempo", "150"), tmp_path / "d.log")
    step = 60 / 150 / 2
    rec = Recorder(d.out_port)
    out = raw_sender(d.in_port)
    code = None
    try:
        wait_sounding(rec)
        out.send_message([0xF0, 0x7D, 0x01])  # a sysex that never ends
        time.sleep(0.05)
        sent = time.monotonic()
        out.send_message([0xB0, 23, 127])  # panic
        time.sleep(step * 1.5)
        panic = [e for e in rec.snapshot() if e.time > sent and e.message.type == "control_change"
                 and e.message.control == 123]
        assert panic and panic[0].time - sent <= step + 0.015, (panic, d.log())
        muted = time.monotonic()
        out.send_message([0xF0, 0x01, 0x02, 0x03])  # another one, then mute
        out.send_message([0xB0, 24, 127])
        time.sleep(step * 4)
        d.send_signal(signal.SIGUSR1)
        d.wait_for_log("state:", timeout=5)
        code = d.stop()
    finally:
        d.stop()
        out.close_port()
        del out
        rec.close()
    log = d.log()
    assert code == 0, log
    assert "muted (CC 24 = 127)" in log, log
    assert not [e for e in rec.note_ons() if e.time > muted + step + 0.015], "a note after mute"
    repaired = int(re.search(r"repaired input (\d+)", log).group(1))
    lost = int(re.search(r"lost input (\d+)", log).group(1))
    assert repaired >= 2 and lost >= 2, log


def test_a_killed_liveplay_leaves_nothing_sounding_after_a_restart(jack_server, tiny_config, tiny_model, tmp_path):
    """SIGKILL while notes sound (the watchdog's abort, TimeoutStopSec): the next liveplay sends
    all-sound-off and all-notes-off on its channel before its first note."""
    synth = Recorder(None, name="synth")
    first = second = None
    try:
        first = Daemon(jack_server, args(tiny_config, tiny_model, "--mode", "solo", "--out", "synth:in"),
                       tmp_path / "first.log", virtual_ports=False)
        wait_sounding(synth)
        first.stop(signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(0.5)
        assert synth.sounding(), "the killed instance's notes should still ring here"
        second = Daemon(jack_server, args(tiny_config, tiny_model, "--mode", "solo", "--out", "synth:in"),
                        tmp_path / "second.log", virtual_ports=False)
        time.sleep(2.0)
        code = second.stop()
        time.sleep(0.3)
    finally:
        for d in (first, second):
            if d is not None:
                d.stop()
        synth.close()
    assert code == 0, second.log()
    after = [e for e in synth.snapshot() if e.time > killed]
    first_note = next(i for i, e in enumerate(after) if e.message.type == "note_on" and e.message.velocity)
    cleared = [e.message.control for e in after[:first_note] if e.message.type == "control_change"]
    assert 120 in cleared and 123 in cleared, after[: first_note + 1]
    assert synth.sounding(at=after[first_note].time - 1e-6) == set()
    assert synth.sounding() == set()


def test_a_removed_connection_is_noticed_once_and_nothing_hangs_when_it_is_back(jack_server, tiny_config,
                                                                                tiny_model, tmp_path):
    synth = Recorder(None, name="synth")
    d = None
    try:
        d = Daemon(jack_server, args(tiny_config, tiny_model, "--mode", "solo", "--out", "synth:in"),
                   tmp_path / "d.log", virtual_ports=False)
        wait_sounding(synth)
        subprocess.run(["jack_disconnect", "liveplay:liveplay out", "synth:in"], check=True)
        pulled = time.monotonic()
        d.wait_for_log("the connection to 'synth:in' was removed", timeout=3)
        assert time.monotonic() - pulled <= 1.5
        assert synth.sounding(), "the synth should still hold the notes it got before the cable was pulled"
        time.sleep(1.5)
        connect("liveplay:liveplay out", "synth:in")
        back = time.monotonic()
        d.wait_for_log("output: connected to 'synth:in' again", timeout=3)
        time.sleep(1.5)
        code = d.stop()
        time.sleep(0.3)
    finally:
        if d is not None:
            d.stop()
        synth.close()
    log = d.log()
    assert code == 0, log
    assert log.count("was removed") == 1, log
    cleared = [e for e in synth.snapshot() if e.time > back and e.message.type == "control_change"
               and e.message.control in (120, 123)]
    assert {e.message.control for e in cleared} == {120, 123}, log
    assert cleared[0].time - back <= 1.0  # within a port check of the cable coming back
    assert synth.sounding(at=cleared[-1].time) == set()  # the notes held since the pull are gone
    assert synth.sounding() == set()


def test_a_named_output_carries_liveplays_name_and_the_hint_names_only_what_is_missing(
        jack_server, tiny_config, tiny_model, tmp_path):
    synth = Recorder(None, name="synth")
    d = Daemon(jack_server, args(tiny_config, tiny_model, "--mode", "solo", "--out", "synth:in"),
               tmp_path / "d.log", virtual_ports=False)
    try:
        time.sleep(0.5)
        listing = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True).stdout
    finally:
        code = d.stop()
        synth.close()
    log = d.log()
    assert code == 0, log
    assert "RtMidi" not in listing, listing
    assert re.search(r"^liveplay:liveplay out\n   synth:in$", listing, re.M), listing
    hint = next(line for line in log.splitlines() if "jack_connect" in line or "playing to" in line)
    assert "playing to 'synth:in'" in hint and "connect a synth" not in hint, hint
    assert "connect a keyboard: jack_connect '<keyboard port>' 'liveplay" in hint, hint
    assert len(onset_times(synth.note_ons())) >= 1


def test_a_loop_through_jack_is_recognised_and_liveplay_does_not_answer_itself(jack_server, tiny_config,
                                                                               tiny_model, tmp_path):
    """Our output wired back to our input (a DAW monitoring liveplay's track): respond mode must
    not take its own answer for the musician playing again, or it would cut every answer after
    one chord."""
    config = tmp_path / "respond.yaml"
    config.write_text(tiny_config.read_text() + "live:\n  silence_steps: 4\n  max_response_steps: 64\n")
    d = Daemon(jack_server, args(config, tiny_model, "--mode", "respond", "--tempo", "150"), tmp_path / "d.log")
    rec = Recorder(d.out_port)
    try:
        connect(d.out_port, d.in_port)  # the loop
        d.wait_for_log("our own notes come back on the input", timeout=20)
        detected = time.monotonic()
        time.sleep(4.0)
        code = d.stop()
    finally:
        d.stop()
        rec.close()
    assert code == 0, d.log()
    # 20 steps after detection: one answer running on (the tiny model's pattern has 5 onsets in 8
    # steps), not an answer cut after each chord and resumed 4 silent steps later (4 onsets)
    assert len(onset_times(rec.note_ons(after=detected))) >= 8, d.log()
