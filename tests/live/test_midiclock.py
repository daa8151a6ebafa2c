"""Following and sending MIDI clock on a real JACK server (jackd -d dummy).

The clock comes from a real JACK client of the test (tests/jacktools.ClockSource); one
recorder hears both that clock and the daemon, so an onset's error is measured against
the very tick it belongs to, on one time base.
"""

import re
import signal
import time

import numpy as np
import pytest

from jacktools import PERIOD_MS, ClockSource, Daemon, Recorder, assert_on_time, onset_times

pytestmark = pytest.mark.slow

TICKS_PER_STEP = 12  # the tiny model's grid: 2 steps a beat
JACK_SYNC = True  # every tick counted: a late client's MIDI is delayed, not dropped (jacktools)


@pytest.fixture
def daemon(jack_server, tiny_config, tiny_model, tmp_path):
    started = []

    def start(*args):
        d = Daemon(jack_server, ["--config", str(tiny_config), "--model", str(tiny_model), "--seed", "1",
                                 "--mode", "solo", *args], tmp_path / "daemon.log")
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def following(daemon) -> tuple[Daemon, Recorder, ClockSource]:
    """liveplay following the clock of a DAW stand-in; one recorder hears both."""
    d = daemon("--clock", "midi")
    rec = Recorder(d.out_port)
    daw = ClockSource(d.in_port)
    rec.listen(f"{daw.name}:out")
    return d, rec, daw


def clock_ticks(rec: Recorder) -> np.ndarray:
    return np.array([e.time for e in rec.snapshot() if e.message.type == "clock"])


def first(rec: Recorder, kind: str) -> float:
    return next(e.time for e in rec.snapshot() if e.message.type == kind)


def onset_errors(onsets: np.ndarray, ticks: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """For each onset: the ms past the earliest it could sound, one JACK period after the last
    step-boundary tick (song position a multiple of a step) at or before it. liveplay hears a tick
    in the period the recorder does, and its answer goes out in the next one: that period is the
    path's own, as the fitted grid's intercept absorbs it in the solo tests, so ``assert_on_time``
    leaves the follower the same period and millisecond of wake-up as every other path. An onset
    on the wrong grid, or off any grid, is a tick (18 ms at 140 BPM) or more late, and fails it.
    Measured from the boundary rather than from the nearest tick, so one scheduler stall that
    delays an onset past the next tick is one late onset, which the rule allows, not an onset
    off the grid."""
    boundary = (positions >= 0) & (positions % TICKS_PER_STEP == 0)
    times = ticks[boundary]
    idx = np.searchsorted(times, onsets) - 1
    assert (idx >= 0).all(), "an onset before any step-boundary tick"
    return (onsets - times[idx]) * 1000 - PERIOD_MS


def test_follows_start_tempo_ramp_with_jitter_stop_continue_and_a_lost_clock(daemon):
    d, rec, daw = following(daemon)
    try:
        time.sleep(1.0)
        assert rec.note_ons() == [], "played before Start"
        daw.start()
        n1 = daw.ticks(8.0, 100, 140, jitter_ms=3)  # Start, then a ramp with a few ms of jitter
        daw.stop()
        n_stopped = daw.ticks(1.5, 140)  # ticks while stopped: they must not play
        daw.resume()
        n2 = daw.ticks(3.0, 140, jitter_ms=3)
        lost_at = time.monotonic()
        time.sleep(1.5)  # no tick for 3.5 beats at 140 BPM: the clock is lost
        n3 = daw.ticks(2.0, 140)  # and back
        d.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        assert d.stop() == 0
    finally:
        daw.close()
        rec.close()
    log = d.log()
    ticks = clock_ticks(rec)
    assert len(ticks) == n1 + n_stopped + n2 + n3
    stop_t, cont_t = first(rec, "stop"), first(rec, "continue")
    # song position of each tick: 0.. from Start; none while stopped; on from there at Continue
    playing = (ticks < stop_t) | (ticks > cont_t)
    positions = np.where(playing, np.cumsum(playing) - 1, -1)

    onsets = onset_times(rec.note_ons())
    assert len(onsets) >= 15, log
    errors = onset_errors(onsets, ticks, positions)
    late_lines = "\n".join(line for line in log.splitlines() if " late (" in line or "stall" in line)
    assert_on_time(errors, "onsets after their step ticks", late_lines or f"(no late step logged)\n{log[-1500:]}")
    # and most go out in the very period after their tick: a sender a period late every time fails
    assert np.median(errors) <= 1.0, f"onsets a period late: median {np.median(errors):.2f} ms past the earliest"
    # Stop: nothing sounds from Stop to Continue, and what sounded was released at once
    assert not ((onsets > stop_t + 0.002) & (onsets < cont_t)).any(), "a note after Stop"
    offs = [e.time for e in rec.snapshot() if e.message.type in ("note_off", "note_on") and e.time > stop_t]
    assert rec.sounding(stop_t + 0.050) == set(), "our notes outlived Stop"  # a period, and a wake-up: not the next step (214 ms)
    # a lost clock: silent within two beats (+ a margin), playing again when the ticks come back
    beat = 60 / 140
    assert rec.sounding(lost_at + 2 * beat + 0.1) == set(), "notes hang on a lost clock"
    assert not ((onsets > lost_at + 2 * beat + 0.1) & (onsets < ticks[-n3])).any()
    assert (onsets > ticks[-n3]).any(), "no music after the clock came back"
    assert "MIDI clock lost" in log and "MIDI clock is back" in log
    assert offs and rec.sounding() == set()
    # every step decided in time: the first after Continue, and those after the clock came back
    # (a thinker that ran ahead through the pause left 3-5 of them held); one stall may make one late
    late = int(re.search(r"(\d+) late step", log).group(1))
    assert late <= 1, late_lines


def test_song_position_moves_the_step_grid(daemon):
    d, rec, daw = following(daemon)
    try:
        daw.stop()
        daw.song_position(3)  # sixteenth 3 = tick 18: half way through step 1 (12 ticks a step)
        time.sleep(0.2)
        daw.resume()
        daw.ticks(6.0, 120)
        d.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
    finally:
        daw.close()
        rec.close()
    log = d.log()
    ticks = clock_ticks(rec)
    positions = 18 + np.arange(len(ticks))  # Continue plays the first tick at the song position
    onsets = onset_times(rec.note_ons())
    assert len(onsets) >= 5, log
    # on the old grid (counted from Continue) every onset would be 6 ticks, 125 ms, after a
    # boundary; on the new one, all but a stalled one are within a few periods of it (the timing
    # itself is the first test's, over more onsets)
    errors = onset_errors(onsets, ticks, positions)
    assert np.median(errors) <= PERIOD_MS + 1, f"the grid did not move with the song position: {errors}"
    assert (errors > 3 * PERIOD_MS + 1).sum() <= 1, f"onsets off the song position's grid: {errors}"
    assert onsets[0] >= ticks[6] - 0.001, "played before the first boundary after the position (tick 24)"
    assert "song position: sixteenth 3" in log
    # the state line counts the song's steps: 6 s at 120 BPM from step 1.5 ends at step 25
    song_step = int(log.rsplit("song step ", 1)[1].split(",")[0])
    assert song_step == (18 + len(ticks) - 1) // TICKS_PER_STEP


def test_sends_a_drift_free_clock_with_start_and_stop(jack_server, tiny_config, tiny_model, tmp_path):
    rec = Recorder(None, name="clockrec")  # there before liveplay opens its output: it hears Start too
    d = Daemon(jack_server, ["--config", str(tiny_config), "--model", str(tiny_model), "--seed", "1", "--mode", "solo",
                             "--send-clock", "--tempo", "125", "--out", "clockrec:in"], tmp_path / "daemon.log",
               virtual_ports=False)
    try:
        time.sleep(32)
        assert d.stop() == 0
        time.sleep(0.3)
    finally:
        d.stop()
        rec.close()
    events = rec.snapshot()
    kinds = [e.message.type for e in events]
    assert "start" in kinds and kinds.count("stop") == 1 and kinds.index("stop") > kinds.index("start")
    ticks = np.array([e.time for e in events if e.message.type == "clock"])
    sent = int(re.search(r"(\d+) MIDI clock ticks sent", d.log()).group(1))
    assert len(ticks) == sent, "ticks lost on the way"
    assert "MIDI output failed" not in d.log()  # a tick that failed to go out is not counted as sent
    nominal = 60 / 125 / 24
    assert (ticks[-1] - ticks[0]) >= 30, "less than 30 s of clock"
    # JACK hands a tick over at the next period boundary, so an interval can be off by up to one
    # period from that alone (at 125 BPM, 20 ms = 7.5 periods: every interval is off by half a
    # period); the recorder's own wake-ups add a little
    assert_on_time((np.diff(ticks) - nominal) * 1000, "tick intervals")
    # no cumulative drift: tick n stays by tick 0 + n nominal intervals, from the first to the last
    # a tick is known by its count (none is lost, above), not by rounding its time: a tick that a
    # late JACK cycle held back by over half an interval would otherwise be read as the next one
    n = np.arange(len(ticks))
    offset = (ticks - ticks[0] - n * nominal) * 1000
    assert_on_time(offset - np.median(offset), "ticks against the nominal grid")
    tenth = len(offset) // 10
    assert abs(offset[-tenth:].mean() - offset[:tenth].mean()) <= 1.0, "the clock drifted"
    slope = np.polyfit(n, ticks, 1)[0]
    assert abs(slope / nominal - 1) <= 1e-4, slope
    # every onset goes out with a step's tick (counted from the first tick after Start, the downbeat)
    start_t = first(rec, "start")
    ticks = ticks[ticks >= start_t]  # ticks[k] is tick k after Start
    onsets = onset_times(rec.note_ons())
    assert onsets.size >= 20
    # sent together, so each onset sits by a step-boundary tick; a JACK period can begin between the
    # tick and the notes (either way round). An onset by any other tick is 20 ms or more from every
    # boundary; one stalled onset is a late one, which the timing rule allows
    boundary = ticks[::TICKS_PER_STEP]
    errors = np.abs(onsets[:, None] - boundary[None, :]).min(axis=1) * 1000
    assert_on_time(errors, "onsets against their step ticks")
