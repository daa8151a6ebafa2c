"""ClockFollower's rules, fed directly (the JACK tests in test_midiclock.py drive it for real)."""

import threading

import mido
import pytest

from liveplay.errors import ConfigError
from liveplay.live.midiclock import ClockFollower

TICK = 60 / (120 * 24)  # 120 BPM


def feed(f: ClockFollower, kind: str, t: float, **kw) -> None:
    f.on_message(mido.Message(kind, **kw), t)


def ticks(f: ClockFollower, t0: float, n: int, tick: float = TICK, jitter=None) -> float:
    for i in range(n):
        feed(f, "clock", t0 + i * tick + (jitter[i] if jitter is not None else 0.0))
    return t0 + n * tick


def test_boundaries_fall_on_every_step_tick_from_start():
    f = ClockFollower(steps_per_beat=2, tempo_bpm=100)
    feed(f, "stop", 0.0)
    ticks(f, 0.0, 30)
    assert f.reached == -1, "stopped, yet ticks played"
    feed(f, "start", 1.0)
    ticks(f, 1.01, 25)  # positions 0..24: boundaries at 0, 12, 24
    assert (f.reached, f.song_step) == (2, 2)


def test_ticks_without_any_transport_join_at_once():
    f = ClockFollower(2, 100)
    ticks(f, 0.0, 13)
    assert f.running and (f.reached, f.song_step) == (1, 1)
    feed(f, "stop", 1.0)
    ticks(f, 1.1, 24)  # after an explicit Stop, ticks only keep the tempo
    assert not f.running and f.reached == 1


def test_tempo_estimate_is_robust_to_jitter():
    import random

    rng = random.Random(0)
    f = ClockFollower(2, 60)
    feed(f, "start", 0.0)
    ticks(f, 0.0, 48, jitter=[rng.uniform(-0.003, 0.003) for _ in range(48)])
    assert f.tempo_bpm() == pytest.approx(120, rel=0.02)
    assert ClockFollower(2, 60).tempo_bpm() == pytest.approx(60)  # no ticks yet: the configured tempo


def test_song_position_moves_the_grid_and_continue_plays_from_there():
    f = ClockFollower(2, 100)
    feed(f, "start", 0.0)
    end = ticks(f, 0.0, 5)
    feed(f, "stop", end)
    feed(f, "songpos", end, pos=3)  # sixteenth 3 = tick 18, half way through step 1
    feed(f, "continue", end)
    before = f.reached
    end = ticks(f, end, 6)  # ticks 18..23: no boundary
    assert f.reached == before
    ticks(f, end, 1)  # tick 24 = step 2
    assert (f.reached, f.song_step) == (before + 1, 2)


def test_stop_and_a_lost_clock_ask_the_sender_to_silence():
    f = ClockFollower(2, 100)
    stop = threading.Event()
    feed(f, "start", 0.0)
    ticks(f, 0.0, 1)
    assert f.wait(0, 0, stop) == ("boundary", 0)
    feed(f, "stop", 0.1)
    assert f.wait(1, 0, stop) == ("silence", 1)
    assert f.predict(1) is None  # stopped: the thinker waits
    import time

    now = time.monotonic()
    feed(f, "continue", now - 10)  # running, but the last sign of a clock is 10 s old: lost
    what, silence = f.wait(1, 1, stop)
    assert (what, silence, f.lost) == ("silence", 2, True)
    ticks(f, now, 1)
    assert not f.lost


def test_predict_counts_ticks_to_the_boundary():
    f = ClockFollower(2, 120)
    feed(f, "start", 10.0)
    ticks(f, 10.0, 25)  # last tick (position 24, step 2) at 10 + 24 TICK
    last = 10.0 + 24 * TICK
    assert f.predict(3) == pytest.approx(last + 12 * TICK, abs=1e-6)
    assert f.predict(4) == pytest.approx(last + 24 * TICK, abs=1e-6)


def test_steps_that_do_not_fall_on_ticks_are_a_config_error():
    with pytest.raises(ConfigError, match="steps_per_beat"):
        ClockFollower(5, 100)
