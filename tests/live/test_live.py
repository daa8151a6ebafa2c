"""The daemon on a real JACK server (jackd -d dummy), driven and recorded by real JACK MIDI clients."""

import re
import signal
import time

import mido
import pytest

from jacktools import (ACT_MARGIN, PERIOD_MS, Daemon, JackInput, Recorder, assert_on_time, flood_from_child, grid_fit,
                       onset_times, open_player, send_control)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_config(tiny_config, tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "live.yaml"
    path.write_text(tiny_config.read_text().replace("engine: numpy", "engine: numpy\nlog_level: debug")
                    + "live:\n  silence_steps: 3\n  max_response_steps: 64\n  lookahead_ms: 20\n")
    return path


@pytest.fixture
def daemon(jack_server, live_config, tiny_model, tmp_path):
    started = []

    def start(*args):
        d = Daemon(jack_server, ["--config", str(live_config), "--model", str(tiny_model), "--seed", "1", *args],
                   tmp_path / "daemon.log")
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def player_port(d: Daemon):
    return open_player(d.in_port)


def play(port, notes, velocity=90, channel=0):
    for n in notes:
        port.send(mido.Message("note_on", note=n, velocity=velocity, channel=channel))


def release(port, notes, channel=0):
    for n in notes:
        port.send(mido.Message("note_off", note=n, velocity=0, channel=channel))


def test_solo_keeps_time_and_leaves_no_note_after_sigterm(daemon):
    d = daemon("--mode", "solo", "--tempo", "150")
    rec = Recorder(d.out_port)
    try:
        time.sleep(11)
        code = d.stop(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        rec.close()
    assert code == 0, d.log()
    onsets = onset_times(rec.note_ons())
    assert len(onsets) >= 20, d.log()
    step = 60 / 150 / 2
    residuals, fitted = grid_fit(onsets, step)
    assert_on_time(residuals)
    assert abs(fitted / step - 1) <= 0.001, fitted  # tempo within 0.1 %
    assert rec.sounding() == set()
    assert any(e.message.type == "control_change" and e.message.control == 123 for e in rec.snapshot()), \
        (rec.snapshot()[-6:], d.log()[-1500:])


def test_respond_waits_answers_and_stops_when_the_player_resumes(daemon):
    d = daemon("--mode", "respond", "--tempo", "150")
    step = 60 / 150 / 2
    rec = Recorder(d.out_port)
    port = player_port(d)
    try:
        time.sleep(1.0)
        phrase_start = time.monotonic()
        for i in range(8):  # a phrase, one note a step
            play(port, [60 + i])
            time.sleep(step * 0.8)
            release(port, [60 + i])
            time.sleep(step * 0.2)
        phrase_end = time.monotonic()
        time.sleep(step * 8)
        # silent while the player played and for silence_steps (3) after -- from the first boundary
        # decided after their first note came in: one decided before it still sounds, as the daemon's
        # rule says it must (lookahead 20 ms, a JACK period each way, a margin)
        answered = rec.note_ons(after=phrase_start + 0.020 + 2 * PERIOD_MS / 1000 + 0.005)
        assert not [e for e in answered if e.time < phrase_end + 2 * step], d.log()
        assert [e for e in answered if e.time >= phrase_end + 2 * step], d.log()
        resume = time.monotonic()
        play(port, [72])
        time.sleep(step * 5)
        release(port, [72])
        late = [e for e in rec.note_ons(after=resume + 1.5 * step)]
        assert not late, f"kept answering after the player resumed: {late}"
        time.sleep(step)
    finally:
        port.close()
        rec.close()


def test_accompany_folds_the_players_chord_into_the_context(daemon):
    d = daemon("--mode", "accompany", "--tempo", "150")
    step = 60 / 150 / 2
    port = player_port(d)
    try:
        time.sleep(1.0)
        play(port, [50, 53, 57])  # D3-F3-A3: not a pattern chord; maps to the nearest vocabulary chord
        sent = time.time()
        time.sleep(step * 2)
        release(port, [50, 53, 57])
        d.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
    finally:
        port.close()
    log = d.log()
    folded = re.findall(r"(\d\d:\d\d:\d\d,\d{3}) DEBUG .*step (\d+): the musician's (\S+) enters the context "
                        r"as (\S+)", log)
    assert folded, log
    stamp, _, chord, mapped = folded[0]
    assert chord == "D3-F3-A3" and mapped != "HOLD"
    h, m, s = stamp.split(":")
    seconds = int(h) * 3600 + int(m) * 60 + float(s.replace(",", "."))
    local = time.localtime(sent)
    sent_s = local.tm_hour * 3600 + local.tm_min * 60 + local.tm_sec + sent % 1
    assert 0 <= seconds - sent_s <= step + 0.05, (stamp, sent)
    assert re.search(r"state: .*context tail: .*" + re.escape(mapped), log), log


def test_temperature_and_panic_ccs_take_effect_within_one_step(daemon):
    d = daemon("--mode", "solo", "--tempo", "150")
    step = 60 / 150 / 2
    rec = Recorder(d.out_port)
    port = player_port(d)
    try:
        time.sleep(1.0)
        send_control(d, port, 20, 127, "temperature 5.00 (CC 20 = 127)", step * 1.5)
        send_control(d, port, 20, 0, "(CC 20 = 0)", step * 1.5)
        # wait for a chord to sound, then panic
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            ons = rec.note_ons()
            if ons and time.monotonic() - ons[-1].time < step * 0.5:
                break
            time.sleep(0.005)
        sent = send_control(d, port, 23, 127, "panic (CC 23)", step * 1.2)
        time.sleep(max(0.0, sent + step * 1.2 - time.monotonic()))
        after = [e for e in rec.snapshot() if e.time >= sent]
        cc = [e for e in after if e.message.type == "control_change" and e.message.control == 123]
        assert cc and cc[0].time - sent <= step + ACT_MARGIN, after
    finally:
        port.close()
        rec.close()


def test_mute_silences_and_unmute_and_reset_context_play_on(daemon):
    d = daemon("--mode", "solo", "--tempo", "150")
    step = 60 / 150 / 2
    rec = Recorder(d.out_port)
    port = player_port(d)
    try:
        time.sleep(1.5)
        assert rec.note_ons(), "nothing played before mute"
        muted = send_control(d, port, 24, 127, "muted (CC 24 = 127)", 2 * step)
        time.sleep(max(0.0, muted + 8 * step - time.monotonic()))
        unmuted = send_control(d, port, 24, 0, "unmuted (CC 24 = 0)", 2 * step)
        send_control(d, port, 25, 127, "context reset (CC 25)", 2 * step)
        time.sleep(8 * step)
    finally:
        port.close()
        rec.close()
    log = d.log()
    assert "CC 24 mute, CC 25 reset-context" in log  # the map, shown at start
    # from one step after the CC (its input is read at the next decision) until unmute: silence
    assert not [e for e in rec.note_ons() if muted + step + ACT_MARGIN < e.time < unmuted], "a note while muted"
    assert rec.sounding(muted + step + ACT_MARGIN) == set(), "a note hung over mute"
    assert [e for e in rec.note_ons() if e.time > unmuted], "nothing after unmute and a fresh context"


def test_unknown_chords_and_a_flood_leave_the_clock_on_the_grid(daemon):
    d = daemon("--mode", "accompany", "--tempo", "150")
    step = 60 / 150 / 2
    rec = Recorder(d.out_port)
    port = player_port(d)
    try:
        time.sleep(1.0)
        play(port, [21, 22, 23, 24, 100, 101])  # far outside the vocabulary
        sender = flood_from_child(d.in_port, 5.0, 2000)  # 2 000 messages/s for 5 s
        for ch in range(16):
            port.send(mido.Message("control_change", control=123, value=0, channel=ch))  # player all-off
        time.sleep(1.0)
        assert d.proc.poll() is None, d.log()
        code = d.stop(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        port.close()
        rec.close()
    assert code == 0, d.log()
    onsets = onset_times([e for e in rec.note_ons() if e.message.channel == 0])
    assert len(onsets) >= 10, (d.log(), sender)
    residuals, _ = grid_fit(onsets, step)
    assert_on_time(residuals)
    assert rec.sounding() == set()


def test_systemd_notify_ready_watchdog_and_stopping(jack_server, live_config, tiny_model, tmp_path):
    import socket

    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    jack_server.env.update(NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="400000")
    try:
        d = Daemon(jack_server, ["--config", str(live_config), "--model", str(tiny_model), "--mode", "solo"],
                   tmp_path / "daemon.log")
        got = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                got.append(sock.recv(4096).decode())
            except socket.timeout:
                pass
        code = d.stop(signal.SIGTERM)
        try:
            while True:
                got.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
    finally:
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC"):
            jack_server.env.pop(key, None)
        sock.close()
    assert code == 0
    assert got[0].startswith("READY=1"), got
    assert got.count("WATCHDOG=1") >= 4, got  # pets every 0.2 s while the loop runs
    assert got[-1] == "STOPPING=1", got


def test_ports_given_by_name_are_connected(jack_server, live_config, tiny_model, tmp_path):
    """--in / --out by part of a name connect to existing ports (no virtual ports of ours)."""
    from jacktools import backend

    b = backend()
    got = []
    keyboard = b.open_output("keys", virtual=True, client_name="fakekeyboard")
    synth = JackInput("fakesynth", "midi", got.append)
    try:
        d = Daemon(jack_server, ["--config", str(live_config), "--model", str(tiny_model), "--mode", "solo",
                                 "--in", "fakekeyboard", "--out", "fakesynth:midi"], tmp_path / "daemon.log",
                   virtual_ports=False)
        time.sleep(1.5)
        send_control(d, keyboard, 20, 127, "temperature 5.00 (CC 20 = 127)", 0.6)
        code = d.stop()
    finally:
        keyboard.close()
        synth.close()
    log = d.log()
    assert code == 0, log
    assert "connected to 'fakekeyboard:keys'" in log and "connected to 'fakesynth:midi'" in log, log
    assert "temperature 5.00 (CC 20 = 127)" in log, log
    assert any(m.type == "note_on" for m in got), log


def test_sighup_reloads_and_an_invalid_file_keeps_the_running_settings(jack_server, live_config, tiny_model,
                                                                        tmp_path):
    config = tmp_path / "reload.yaml"
    base = live_config.read_text().replace("log_level: debug", "log_level: info")
    config.write_text(base + "  mode: solo\n")
    d = Daemon(jack_server, ["--config", str(config), "--model", str(tiny_model)], tmp_path / "daemon.log")
    try:
        time.sleep(1.0)
        assert "in solo mode" in d.log()
        config.write_text(base + "  mode: accompany\n  tempo_bpm: 90\n  queue_size: 100\n")
        d.send_signal(signal.SIGHUP)
        d.wait_for_log("config reloaded", timeout=5)
        config.write_text(base + "  mode: respond\n  tempo_bpm: -5\n")
        d.send_signal(signal.SIGHUP)
        d.wait_for_log("config reload failed", timeout=5)
        time.sleep(0.5)
        d.send_signal(signal.SIGUSR1)
        d.wait_for_log("state:", timeout=5)
        assert d.proc.poll() is None
    finally:
        code = d.stop()
    log = d.log()
    assert code == 0, log
    assert "mode accompany" in log and "tempo 90.0 BPM" in log, log
    assert "live.queue_size changed, takes effect at the next start" in log, log
    assert re.search(r"config reload failed, the running settings stay: .*live.tempo_bpm: must be between", log, re.S), log
    assert re.search(r"state: .*tempo 90.0 BPM, mode accompany", log), log
