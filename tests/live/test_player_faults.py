"""The step loop survives faults in the engine and sampler; start-up errors exit 2 naming the file."""

import gc
import logging
import sys
import threading
import time

import mido
import numpy as np

from liveplay import cli
from liveplay.config import load_settings
from liveplay.live.inputs import InputQueue
from liveplay.live.midiclock import ClockFollower
from liveplay.live.performance import Performance
from liveplay.live.player import Player
from liveplay.live.stepwatch import StepWatch
from liveplay.live.timing import InternalTiming, MidiClockTiming
from liveplay.live.writer import NoteWriter
from liveplay.music.context import Context
from liveplay.music.sampler import Sampler
from liveplay.music.tokens import Vocabulary


class FlakyEngine:
    """Every third distribution raises; the rest are uniform."""

    name = "flaky"
    context_length = 16
    vocab_size = 6

    def __init__(self):
        self.calls = 0

    def reset(self, tokens=()):
        pass

    def push(self, token):
        if token == 4:
            raise FloatingPointError("push blew up")

    def distribution(self):
        self.calls += 1
        if self.calls % 3 == 0:
            raise RuntimeError("the engine blew up")
        return np.full(self.vocab_size, 1 / self.vocab_size)


def test_engine_faults_are_logged_once_per_kind_and_the_clock_goes_on(caplog):
    settings = load_settings().override({"live.mode": "solo", "live.tempo_bpm": 300.0})
    vocab = Vocabulary([(60,), (62,), (64,), (65,)], 4)  # ids 2..5; pushing id 4 raises
    sent = []
    live = settings.live
    performance = Performance(vocab, Context(FlakyEngine()), Sampler(settings.sampler, seed=0), live,
                              settings.controls, 4)
    writer = NoteWriter(sent.append, live.output_channel - 1, live.pitch_low, live.pitch_high)
    player = Player(performance, InternalTiming(live.tempo_bpm, 4), writer, InputQueue(), live, status=False)
    with caplog.at_level(logging.ERROR):
        player.start(time.monotonic() + 0.05)
        time.sleep(1.5)
        player.stop()
    step = 60 / 300 / 4
    assert player.step >= 0.8 * 1.5 / step  # the sender kept going
    errors = [r for r in caplog.records if "logged once per kind" in r.getMessage()]
    assert sorted(r.exc_info[0].__name__ for r in errors) == ["FloatingPointError", "RuntimeError"]
    assert sent and sent[-1].type == "control_change" and sent[-1].control == 123
    on = set()
    for m in sent:
        if m.type == "note_on":
            on.add(m.note)
        elif m.type == "note_off":
            on.discard(m.note)
    assert not on  # every note-on has its note-off


class ChordEngine(FlakyEngine):
    """A new chord every step, never REST or HOLD: every decided step sounds a note-on."""

    def push(self, token):
        self.calls += 1

    def distribution(self):
        p = np.zeros(self.vocab_size)
        p[2 + self.calls % 4] = 1.0
        return p


def test_a_stop_between_the_tick_and_the_sender_leaves_that_step_unplayed():
    """A boundary tick, then the DAW's Stop, before the sender took the lock, or before it even
    woke: the step's moment went with the Stop. (It once waited for the same step again, found
    its tick already come, and played it during the Stop, left sounding until after Continue.)"""
    settings = load_settings().override({"live.mode": "solo"})
    live = settings.live
    vocab = Vocabulary([(60,), (62,), (64,), (65,)], 4)
    sent = []
    performance = Performance(vocab, Context(ChordEngine()), Sampler(settings.sampler, seed=0), live,
                              settings.controls, 2)
    writer = NoteWriter(sent.append, live.output_channel - 1, live.pitch_low, live.pitch_high)
    follower = ClockFollower(steps_per_beat=2, tempo_bpm=120.0)  # 12 ticks a step
    player = Player(performance, MidiClockTiming(follower, 2), writer, InputQueue(), live, status=False)

    def ticks(n):
        for _ in range(n):
            follower.on_message(mido.Message("clock"), time.monotonic())

    def note_ons(messages):
        return [m for m in messages if m.type == "note_on" and m.velocity > 0]

    player.start()
    try:
        follower.on_message(mido.Message("start"), time.monotonic())
        ticks(12)  # step 0's boundary, and the ticks up to step 1's
        deadline = time.monotonic() + 2
        while 1 not in player.decided and time.monotonic() < deadline:
            time.sleep(0.01)
        assert player.step == 0 and 1 in player.decided  # step 0 played, step 1 decided and due
        with player.lock:  # the sender, woken by step 1's tick, waits here for the lock
            ticks(1)
            time.sleep(0.05)
            follower.on_message(mido.Message("stop"), time.monotonic())
            stopped = len(sent)
        time.sleep(0.3)
        during = sent[stopped:]
        assert not note_ons(during), during
        assert not writer.sounding  # and nothing sounds through the Stop
        follower.on_message(mido.Message("continue"), time.monotonic())
        back = len(sent)
        ticks(12)  # ticks 13-24: step 2's boundary at the last
        time.sleep(0.2)
        assert note_ons(sent[back:]), "no step after Continue"  # decided at the Stop, played on time
        # a DAW sends Stop right after a tick: both come before the sender wakes
        ticks(11)
        deadline = time.monotonic() + 2
        while 3 not in player.decided and time.monotonic() < deadline:
            time.sleep(0.01)
        assert player.step == 2 and 3 in player.decided
        with follower.cond:  # the sender wakes only after both
            ticks(1)  # tick 36: step 3's boundary
            follower.on_message(mido.Message("stop"), time.monotonic())
            stopped = len(sent)
        time.sleep(0.3)
        assert not note_ons(sent[stopped:]) and not writer.sounding, sent[stopped:]
        assert player.late == 0
    finally:
        player.stop()


def test_run_with_a_corrupt_model_exits_2_naming_the_file(tmp_path, caplog):
    bundle = tmp_path / "broken"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{")
    assert cli.main(["run", "--model", str(bundle), "--api", "jack"]) == 2
    assert "manifest.json" in caplog.text and "not readable JSON" in caplog.text


def test_run_with_a_bad_config_exits_2_naming_the_key(tmp_path, caplog):
    config = tmp_path / "bad.yaml"
    config.write_text("live:\n  mode: jam\n")
    assert cli.main(["run", "--config", str(config)]) == 2
    assert "live.mode: must be one of respond, accompany, solo" in caplog.text


class StallingEngine(FlakyEngine):
    """Uniform answers; the sixth push collects garbage and then takes a quarter of a second."""

    def push(self, token):
        self.pushes = getattr(self, "pushes", 0) + 1
        if self.pushes == 6:
            gc.collect()
            time.sleep(0.25)

    def distribution(self):
        return np.full(self.vocab_size, 1 / self.vocab_size)


def test_a_late_step_is_logged_with_where_the_time_went(caplog):
    settings = load_settings().override({"live.mode": "solo", "live.tempo_bpm": 300.0})  # 50 ms steps
    vocab = Vocabulary([(60,), (62,), (64,), (65,)], 4)
    live = settings.live
    performance = Performance(vocab, Context(StallingEngine()), Sampler(settings.sampler, seed=0), live,
                              settings.controls, 4)
    writer = NoteWriter(lambda m: None, live.output_channel - 1, live.pitch_low, live.pitch_high)
    player = Player(performance, InternalTiming(live.tempo_bpm, 4), writer, InputQueue(), live, status=False)
    with caplog.at_level(logging.WARNING, logger="liveplay.live.player"):
        player.start(time.monotonic() + 0.05)
        time.sleep(1.0)
        player.stop()
    lines = [r.getMessage() for r in caplog.records if " late (" in r.getMessage()]
    assert player.late >= 3 and len(lines) == player.late  # a quarter second: several 50 ms steps
    first = lines[0]
    assert first.startswith(f"step 6 late (1 so far): the sender woke ")  # the stalled push was step 6's
    stalled = float(first.split("the thinker had been pushing the tokens for step 6 for ")[1].split(" ms")[0])
    assert 15 < stalled < 250  # in the push since the thinker began step 6, lookahead (20 ms) before its boundary
    # the collection, ended or (in a process with much garbage: its finalizers let the sender run) still running
    assert ("garbage collection(s), the longest" in first or "a garbage collection running for" in first), first
    assert " major and " in first and " minor page fault(s)" in first and " ms of the CPUs stolen by the host; " in first
    # the phases before: the thinker began step 6 (heard its input) about lookahead before the boundary
    trail = first.split("begun at ms from the boundary: ")[1]
    began = float(trail.split("hearing the input for 6 ")[1].split(",")[0])
    assert -30 < began < -10, trail


def test_late_steps_past_the_first_ten_are_logged_one_in_a_hundred():
    watch = StepWatch()
    try:
        since = watch.boundary()
        logged = [n for n in range(1, 301) if watch.describe(n, n, 0.0, since) is not None]
    finally:
        watch.close()
    assert logged == [*range(1, 11), 100, 200, 300]


def test_a_late_steps_line_is_written_while_the_thinker_moves_on():
    """The sender describes a late step while the thinker enters its next phases (a CI run once
    lost its player to "deque mutated during iteration" here). Threads switched as often as the
    interpreter allows, with garbage collections in the sender's copy."""
    watch = StepWatch()
    stop = threading.Event()

    def thinker():
        k = 0
        while not stop.is_set():
            k += 1
            watch.thinking("hearing the input for", k)
            watch.thinking("pushing the tokens for", k)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    t = threading.Thread(target=thinker)
    t.start()
    try:
        since = watch.boundary()
        lines = []
        for n in range(3000):
            garbage = [[] for _ in range(50)]  # allocations: collections start inside the copy too
            lines.append(watch.describe(1, 1, 0.001, since))
            del garbage
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)
        watch.close()
    assert all(line and "begun at ms from the boundary: " in line for line in lines)


def test_steal_time_is_read_from_the_kernels_count_and_said_in_ms():
    """The host's share of this machine's CPUs (a virtual machine's stall: every thread stops at
    once, with no context switch counted) comes from /proc/stat's steal column, in ms."""
    watch = StepWatch()
    try:
        if watch._stat is None:
            import pytest

            pytest.skip("no /proc/stat on this system")
        with open("/proc/stat") as f:
            kernel = int(f.readline().split()[8])
        assert abs(watch._steal() - kernel) <= 2  # ticks: the two reads are microseconds apart
        since = watch.boundary()
        assert len(since) == 6 and since[4] >= 0 and since[5] >= 0
        line = watch.describe(1, 1, 0.0, (0, 0, 0, 0.0, 40.0, 3))
        assert "no garbage collection, 40 ms of the CPUs stolen by the host;" in line
        assert "0 major and 3 minor page fault(s)" in line
    finally:
        watch.close()
    assert watch._stat is None  # the file is closed with the watch
