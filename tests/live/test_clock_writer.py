"""Pure parts of the live path: the clock's arithmetic and the note writer (a hand-written fake port)."""

import threading
import time

import mido
import pytest

from liveplay.live.clock import StepClock, wait_until
from liveplay.live.inputs import InputQueue
from liveplay.live.ports import find_port
from liveplay.live.writer import NoteWriter
from liveplay.music.tokens import HOLD, REST


def test_boundaries_are_absolute():
    c = StepClock(120, 2, anchor_time=100.0)
    assert c.step_seconds == 0.25
    assert c.boundary(0) == 100.0 and c.boundary(1000) == pytest.approx(350.0)
    assert c.step_at(100.26) == 1 and c.step_at(99.9) == -1


def test_tempo_change_reanchors_without_a_jump():
    c = StepClock(120, 2, anchor_time=0.0)
    before = c.boundary(8)
    c.set_tempo(60, from_step=8)
    assert c.boundary(8) == before  # the boundary where the change happens keeps its time
    assert c.boundary(9) - c.boundary(8) == pytest.approx(0.5)


def test_wait_until_lands_close_and_stops_at_once():
    stop = threading.Event()
    target = time.monotonic() + 0.05
    assert wait_until(target, stop)
    assert 0 <= time.monotonic() - target < 0.01
    stop.set()
    t0 = time.monotonic()
    assert wait_until(t0 + 10, stop) is False
    assert time.monotonic() - t0 < 0.1


class FakePort:
    def __init__(self):
        self.sent = []
        self.broken = False

    def send(self, msg):
        if self.broken:
            raise OSError("port vanished")
        self.sent.append(msg)

    def sounding(self):
        on = set()
        for m in self.sent:
            if m.type == "note_on" and m.velocity:
                on.add(m.note)
            elif m.type == "note_off":
                on.discard(m.note)
            elif m.type == "control_change" and m.control == 123:
                on.clear()
        return on


def test_writer_hold_sustains_change_and_rest_release():
    port = FakePort()
    w = NoteWriter(port.send, 0, 21, 108)
    w.play((60, 64), 90)
    w.play(HOLD, 90)
    assert port.sounding() == {60, 64} and len(port.sent) == 2
    w.play((60, 67), 90)  # note-off before re-sending 60
    kinds = [(m.type, m.note) for m in port.sent[2:]]
    assert kinds.index(("note_off", 60)) < kinds.index(("note_on", 60))
    assert port.sounding() == {60, 67}
    w.play(REST, 90)
    assert port.sounding() == set()


def test_writer_clamps_by_octaves_and_all_notes_off():
    port = FakePort()
    w = NoteWriter(port.send, 3, 48, 72)
    w.play((30, 60, 90), 70)
    assert sorted(m.note for m in port.sent) == [54, 60, 66]
    w.all_notes_off()
    assert port.sent[-1].type == "control_change" and port.sent[-1].control == 123 and port.sent[-1].channel == 3
    assert port.sounding() == set()


def test_writer_survives_a_vanished_port():
    port = FakePort()
    w = NoteWriter(port.send, 0, 0, 127)
    port.broken = True
    w.play((60,), 80)  # no exception
    assert w.failed and w.errors == 1
    port.broken = False
    w.play(REST, 80)
    assert not w.failed and port.sent[-1].type == "note_off"


def test_our_own_notes_coming_back_are_recognised():
    """A loop through a DAW returns every note we send: once that is seen, the echoes are ours."""
    port = FakePort()
    w = NoteWriter(port.send, 0, 0, 127)
    for i in range(12):  # our notes, each coming back 5 ms later
        w.play((60 + i % 3,), 80, now=10.0 + i)
        assert not w.is_ours(mido.Message("note_on", note=60 + i % 3, velocity=80, channel=0), 10.005 + i) \
            or i >= 8  # the first echoes teach the detector; then they are ours
    w.play((60,), 80, now=30.0)
    assert w.is_ours(mido.Message("note_on", note=60, velocity=80, channel=0), 30.005)
    w.play((61,), 80, now=31.0)
    assert not w.is_ours(mido.Message("note_on", note=61, velocity=80, channel=1), 31.005)
    assert not w.is_ours(mido.Message("note_on", note=62, velocity=80, channel=0), 31.005)


def test_input_queue_never_blocks_and_counts_drops():
    q = InputQueue(maxsize=16)
    for i in range(40):
        q.callback(mido.Message("note_on", note=i % 128))
    assert q.dropped == 24 and len(q.drain()) == 16


def test_find_port_exact_then_substring():
    names = ["Keystation 49:Keystation MIDI 1", "Midi Through:Port-0", "liveplay:liveplay in"]
    assert find_port(names, "Midi Through:Port-0") == "Midi Through:Port-0"
    assert find_port(names, "keystation") == "Keystation 49:Keystation MIDI 1"
    assert find_port(names, "nothing") is None


def test_cli_import_leaves_numpy_unloaded_so_the_blas_thread_count_can_be_set():
    import subprocess
    import sys

    code = "import sys; import liveplay.cli, liveplay.config; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_a_musician_in_unison_on_the_beat_is_never_taken_for_an_echo():
    """Same channel, same velocity, on the beat, a pitch of our chord: still the musician's."""
    port = FakePort()
    w = NoteWriter(port.send, 0, 0, 127)
    theirs = 0
    for i in range(200):
        w.play((60, 64, 67) if i % 2 else (62, 65, 69), 90, now=10.0 + 0.25 * i)
        pitch = 64 if i % 2 else 65
        theirs += not w.is_ours(mido.Message("note_on", note=pitch, velocity=90, channel=0), 10.01 + 0.25 * i)
    assert theirs == 200 and not w.echo.loop
