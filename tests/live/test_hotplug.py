"""Ports that come and go on a real JACK server: a keyboard and synth unplugged, a server restart,
a server that stops answering while liveplay stops."""

import os
import signal
import time

import pytest

from liveplay.live.app import STOP_DEADLINE

from jacktools import Daemon, JackInput, JackServer, Recorder, backend, onset_times, send_control

pytestmark = pytest.mark.slow


@pytest.fixture
def jack_server(tmp_path):
    server = JackServer(tmp_path)
    server.activate()
    yield server
    server.stop()


def wait_for(d: Daemon, text: str, since: float, timeout: float) -> float:
    """Seconds from ``since`` until ``text`` is in the daemon's log."""
    d.wait_for_log(text, timeout)
    return time.monotonic() - since


def plays_on_then_stops_clean(d: Daemon) -> None:
    """liveplay's virtual output plays for 2 s, SIGTERM exits 0, nothing is left sounding."""
    rec = Recorder("liveplay:liveplay out")
    try:
        time.sleep(2.0)
        code = d.stop(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        rec.close()
    log = d.log()
    assert code == 0, log
    assert len(onset_times(rec.note_ons())) >= 2, log
    assert rec.sounding() == set()


def test_named_ports_unplugged_and_back(jack_server, tiny_config, tiny_model, tmp_path):
    b = backend()
    got = []
    keyboard = b.open_output("keys", virtual=True, client_name="fakekeyboard")
    synth = JackInput("fakesynth", "midi", got.append)
    d = Daemon(jack_server, ["--config", str(tiny_config), "--model", str(tiny_model), "--mode", "solo",
                             "--in", "fakekeyboard", "--out", "fakesynth"], tmp_path / "daemon.log",
               virtual_ports=False)
    try:
        time.sleep(1.0)
        keyboard.close()  # the keyboard is unplugged
        synth.close()  # the synth is closed
        unplugged = time.monotonic()
        wait_for(d, "input 'fakekeyboard:keys' is gone", unplugged, 5)
        wait_for(d, "output 'fakesynth:midi' is gone", unplugged, 5)
        time.sleep(1.0)
        got.clear()
        keyboard = b.open_output("keys", virtual=True, client_name="fakekeyboard")
        synth = JackInput("fakesynth", "midi", got.append)
        back = time.monotonic()
        assert wait_for(d, "input 'fakekeyboard:keys' is back", back, 5) <= 2.0
        assert wait_for(d, "output 'fakesynth:midi' is back", back, 5) <= 2.0
        send_control(d, keyboard, 20, 127, "temperature 5.00 (CC 20 = 127)", 1.0)
        time.sleep(1.0)  # the synth hears us again
        assert d.proc.poll() is None
        code = d.stop()
    finally:
        keyboard.close()
        synth.close()
    log = d.log()
    assert code == 0, log
    assert log.count("is gone") == 2, log  # one line per lost port
    assert "temperature 5.00 (CC 20 = 127)" in log, log
    assert any(m.type == "note_on" for m in got), log  # playing into the synth again


def test_jack_server_restart_is_survived(jack_server, tiny_config, tiny_model, tmp_path):
    d = Daemon(jack_server, ["--config", str(tiny_config), "--model", str(tiny_model), "--mode", "solo"],
               tmp_path / "daemon.log")
    time.sleep(1.0)
    jack_server.stop(keep_log=True)
    down = time.monotonic()
    wait_for(d, "the JACK server is gone", down, 5)
    time.sleep(1.0)
    assert d.proc.poll() is None, d.log()
    jack_server.start()
    up = time.monotonic()
    assert wait_for(d, "the JACK server is back: ports reopened", up, 5) <= 2.0
    plays_on_then_stops_clean(d)  # on the new server


def test_a_named_output_absent_at_start_is_waited_for(jack_server, tiny_config, tiny_model, tmp_path):
    """No synth yet (it starts after liveplay): liveplay waits, keeps its clock, and plays into it
    within 2 s of its appearing -- no exit, no restart."""
    d = Daemon(jack_server, ["--config", str(tiny_config), "--model", str(tiny_model), "--mode", "solo",
                             "--out", "latesynth:in", "--tempo", "150"], tmp_path / "daemon.log",
               virtual_ports=False, ready="playing JACK")
    rec = None
    try:
        d.wait_for_log("output 'latesynth:in' not there (yet): waiting for it", timeout=30)
        time.sleep(3.0)
        assert d.proc.poll() is None, d.log()
        rec = Recorder(None, name="latesynth")  # the synth comes up
        appeared = time.monotonic()
        assert wait_for(d, "output 'latesynth:in' is back", appeared, 5) <= 2.0
        time.sleep(1.5)
        code = d.stop()
        time.sleep(0.3)
    finally:
        if rec is not None:
            rec.close()
    log = d.log()
    assert code == 0, log
    assert "bar 2:" in log.split("not there (yet)")[1].split("is back")[0], "the clock did not run while waiting"
    assert len(onset_times(rec.note_ons())) >= 3, log
    assert rec.sounding() == set()


def test_no_midi_system_at_start_is_waited_for(jack_server, tiny_config, tiny_model, tmp_path):
    """The JACK server comes up after liveplay (a user session starting): it waits, then opens."""
    jack_server.stop(keep_log=True)
    d = Daemon(jack_server, ["--config", str(tiny_config), "--model", str(tiny_model), "--mode", "solo"],
               tmp_path / "daemon.log", virtual_ports=False, ready="no JACK MIDI system yet; waiting for one")
    time.sleep(2.0)
    assert d.proc.poll() is None, d.log()
    jack_server.start()
    up = time.monotonic()
    assert wait_for(d, "JACK is here: ports opened", up, 5) <= 2.5
    plays_on_then_stops_clean(d)


def test_a_stop_the_server_never_answers_ends_by_the_deadline(jack_server, tiny_config, tiny_model, tmp_path):
    """jackd stopped (SIGSTOP) while the daemon stops: closing a port waits for an answer that never
    comes. The daemon leaves after app.STOP_DEADLINE anyway, exit 1, every thread's stack in its log."""
    d = Daemon(jack_server, ["--config", str(tiny_config), "--model", str(tiny_model), "--mode", "solo"],
               tmp_path / "daemon.log")
    time.sleep(1.5)
    os.kill(jack_server.proc.pid, signal.SIGSTOP)
    try:
        asked = time.monotonic()
        code = d.stop(signal.SIGTERM, timeout=STOP_DEADLINE + 10)
        took = time.monotonic() - asked
    finally:
        os.kill(jack_server.proc.pid, signal.SIGCONT)
    log = d.log()
    assert code == 1 and took <= STOP_DEADLINE + 3, (code, took, log)
    assert "stopped by SIGTERM: every note silenced" in log, log
    assert f"Timeout (0:00:{STOP_DEADLINE:02.0f})!" in log and "most recent call first" in log, log
