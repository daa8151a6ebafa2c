"""Where the steps fall: the quantisation rule on both clocks, and a drain that comes late."""

import threading
import time

import mido
import pytest

from liveplay.config import load_settings
from liveplay.live.inputs import Stamped
from liveplay.live.midiclock import ClockFollower
from liveplay.live.performance import Performance
from liveplay.live.timing import InternalTiming, MidiClockTiming, compute_lead
from liveplay.music.context import Context
from liveplay.music.sampler import Sampler
from liveplay.music.tokens import Vocabulary

from test_performance import CHORDS, FixedEngine


def internal(tempo=120.0, spb=2, at=100.0):
    t = InternalTiming(tempo, spb)
    t.start(at)
    return t


def test_internal_input_step_follows_the_documented_rule():
    t = internal()  # B_k = 100 + 0.25 k; lookahead 0.02: C_k = B_k - 0.02
    step = lambda stamp: t.input_step(stamp, 0.02)  # noqa: E731
    assert step(100.0) == 0  # in (C_0, C_1] = (99.98, 100.23]
    assert step(100.229) == 0 and step(100.231) == 1  # C_1 = 100.23 ends step 0's window
    assert step(99.97) == -1  # before the first window: folded with step 0 anyway
    assert step(101.0 - 0.021) == 3 and step(101.0 - 0.019) == 4


def test_the_lead_is_at_most_half_a_step():
    t = internal(tempo=240.0, spb=4)  # 62.5 ms steps: a 50 ms lookahead is cut to 31.25 ms
    assert compute_lead(0.05, t.step_seconds()) == pytest.approx(0.03125)
    assert t.input_step(100.0625 - 0.032, 0.05) == 0 and t.input_step(100.0625 - 0.030, 0.05) == 1


def test_a_tempo_change_keeps_the_rule_from_its_boundary_on():
    t = internal()
    t.set_tempo(60.0, from_step=4)  # from B_4 = 101.0 on, 0.5 s steps
    assert t.input_step(101.0 - 0.021, 0.02) == 3
    assert t.input_step(101.5 - 0.019, 0.02) == 5


def test_a_late_drain_puts_each_note_in_the_step_of_its_stamp():
    """The thinker reads step 4's input a whole step late: what came after C_5 waits for step 5."""
    s = load_settings().override({"live.mode": "accompany"})
    p = Performance(Vocabulary(CHORDS, 4), Context(FixedEngine()), Sampler(s.sampler, seed=0), s.live, s.controls, 2)
    t = internal()
    on_time = Stamped(101.0 - 0.05, mido.Message("note_on", note=62))  # step 3's window... (C_3, C_4]
    in_four = Stamped(101.1, mido.Message("note_on", note=65))  # (C_4, C_5] = (100.98, 101.23]
    in_five = Stamped(101.3, mido.Message("note_on", note=69))  # (C_5, C_6]
    p.hear([on_time, in_four, in_five], lambda stamp: t.input_step(stamp, 0.02))
    assert p.fold(3) == p.vocab.encode_token((62,))
    assert p.fold(4) == p.vocab.encode_token((65,))
    assert p.fold(5) == p.vocab.encode_token((69,))


def feed(follower, times, kind="clock"):
    for at in times:
        follower.on_message(mido.Message(kind), at)


def test_midi_clock_input_step_uses_the_real_boundary_ticks_then_predicts():
    f = ClockFollower(steps_per_beat=2, tempo_bpm=120.0)  # 12 ticks a step
    tick = 60 / (120 * 24)
    f.on_message(mido.Message("start"), 10.0)
    ticks = [10.0 + i * tick for i in range(30)]  # boundaries: ticks 0, 12, 24 (steps 0, 1, 2)
    feed(f, ticks)
    assert f.reached == 2
    lead = 0.02
    assert f.input_step(ticks[12] - lead - 0.001, lead) == 0  # before step 1's window opens
    assert f.input_step(ticks[12] - lead + 0.001, lead) == 1
    assert f.input_step(ticks[24] - lead + 0.001, lead) == 2
    predicted_36 = ticks[29] + 7 * tick  # tick 36 (step 3) is 7 ticks after the last one
    assert f.input_step(predicted_36 - lead + 0.002, lead) == 3
    assert f.input_step(predicted_36 + 12 * tick - lead + 0.002, lead) == 4
    f.on_message(mido.Message("stop"), ticks[-1] + 0.001)
    assert f.input_step(ticks[-1] + 0.01, lead) is None  # stopped: input is let go


def test_midi_clock_logs_nothing_in_the_rtmidi_thread(caplog):
    """Transport changes are noted in the callback and logged by ``report`` from another thread."""
    f = ClockFollower(steps_per_beat=2, tempo_bpm=120.0)
    with caplog.at_level("INFO"):
        f.on_message(mido.Message("start"), 1.0)
        f.on_message(mido.Message("songpos", pos=16), 1.1)
        f.on_message(mido.Message("stop"), 1.2)
        assert caplog.records == []
        timing = MidiClockTiming(f, 2)
        threading.Thread(target=timing.report, name="main-loop").start()
        deadline = time.monotonic() + 2
        while len(caplog.records) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert [r.threadName for r in caplog.records] == ["main-loop"] * 3
    assert "start" in caplog.records[0].getMessage() and "sixteenth 16" in caplog.records[1].getMessage()


def thinking(timing, k, seconds):
    """``wait_to_compute(k)`` for at most ``seconds``: (whether it said compute, idle calls)."""
    stop, idles = threading.Event(), []
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    try:
        ready = timing.wait_to_compute(k, stop, 0.02, lambda: idles.append(1))
    finally:
        timer.cancel()
    return ready and not stop.is_set(), len(idles)


def test_the_thinker_waits_out_a_paused_clock_and_is_ready_for_continue():
    """A DAW's clock that pauses without Stop must not run the thinker ahead on predictions that
    have passed (seen: steps 46-49 decided during the pause, their decisions dropped, and four
    held steps after the clock came back); after Stop the next step is decided at once, so the
    first boundary after Continue plays it (seen: that step late, held, every time)."""
    f = ClockFollower(steps_per_beat=2, tempo_bpm=120.0)  # 12 ticks a step, a step 0.25 s
    timing = MidiClockTiming(f, 2)
    tick = 60 / (120 * 24)
    now = time.monotonic()
    f.on_message(mido.Message("start"), now - 1.0)
    feed(f, [now - 0.3 + i * tick for i in range(13)])  # steps 0 and 1 have come; the last tick 0.05 s ago
    assert f.reached == 1
    assert thinking(timing, 2, 1.0) == (True, 0)  # step 2 is next: decided on its prediction
    # the clock pauses: step 3's predicted time (0.25 s after step 2's) passes with no tick
    assert thinking(timing, 3, 0.8) == (False, 0)  # waited for step 2's tick, not idle: still playing
    feed(f, [time.monotonic() + i * tick for i in range(12)])  # back: step 2's boundary comes
    assert f.reached == 2
    assert thinking(timing, 3, 1.0)[0]
    f.on_message(mido.Message("stop"), time.monotonic())
    started = time.monotonic()
    assert thinking(timing, 3, 1.0) == (True, 0)  # stopped with step 3 next: decided now
    assert time.monotonic() - started < 0.2
    ready, idles = thinking(timing, 4, 0.3)  # and nothing further while stopped; controls still act
    assert not ready and idles >= 3
    f.on_message(mido.Message("continue"), time.monotonic())
    feed(f, [time.monotonic() + i * tick for i in range(12)])  # ticks 25-36: step 3's boundary at the last
    assert f.reached == 3 and thinking(timing, 4, 1.0)[0]
