"""The rtmidi callback's side: stamp, parse, repair byte soup, count -- never raise, never wait."""

from liveplay.live.inputs import InputQueue


def feed(q, *messages):
    for data in messages:
        q.on_bytes((list(data), 0.0))


def test_a_sysex_glued_to_what_followed_is_split_again():
    q = InputQueue()
    # what RtMidi delivers after F0 7D 01 with no F7: every later event glued on, ended by an F7
    feed(q, [0xF0, 0x7D, 0x01, 0xB0, 23, 127, 0x90, 60, 100, 0x80, 60, 0, 0xF7])
    got = [s.message for s in q.drain()]
    assert [(m.type, getattr(m, "control", getattr(m, "note", None))) for m in got] == \
        [("control_change", 23), ("note_on", 60), ("note_off", 60)]
    assert (q.repaired, q.lost) == (3, 1)


def test_a_whole_sysex_is_a_message_and_a_lone_f7_is_nothing():
    q = InputQueue()
    feed(q, [0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7], [0xF7])
    assert [s.message.type for s in q.drain()] == ["sysex"]
    assert (q.repaired, q.lost) == (0, 0)


def test_byte_soup_is_counted_and_never_raises():
    q = InputQueue()
    feed(q, [0xF4], [0xFD], [0x90, 200, 300], [], [0x12, 0x34])
    q.on_bytes(None)  # not even an event
    assert q.drain() == [] and q.lost == 6


def test_clock_and_transport_skip_the_queue():
    got = []
    q = InputQueue(realtime=lambda msg, stamp: got.append(msg.type))
    feed(q, [0xF8], [0xFA], [0xFB], [0xFC], [0xF2, 4, 0], [0xFE], [0xB0, 1, 1])
    assert got == ["clock", "start", "continue", "stop", "songpos"]
    assert [s.message.type for s in q.drain()] == ["control_change"]
    InputQueue().on_bytes(([0xF8], 0.0))  # without a follower: dropped quietly


def test_a_full_queue_drops_and_counts():
    q = InputQueue(maxsize=16)
    for i in range(40):
        feed(q, [0x90, i, 64])
    assert q.dropped == 24 and len(q.drain()) == 16 and q.drain() == []
    assert "dropped input 24" in q.describe()
