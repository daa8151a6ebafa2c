"""The key frame of a key-normalised model: concert pitch in and out, hysteresis, a real tiny model."""

import numpy as np

from liveplay.model.keyframe import KeyFrame, KeyFrameEngine, play_vocabulary
from liveplay.music.tokens import HOLD, REST, Vocabulary

C_MAJOR = [(60, 64, 67), (62,), (64,), (65, 69, 72), (67,), (69,), (67, 71, 74), (72,)]


def moved(tokens, semitones):
    return [t if t in (HOLD, REST) else tuple(p + semitones for p in t) for t in tokens]


def test_the_frame_follows_a_new_key_only_once_it_has_lasted():
    frame = KeyFrame(steps=16, hold=4)
    assert frame.reset(C_MAJOR * 2) == 0
    assert frame.hear((66, 70, 73)) == 0  # one F# major chord passing: still C
    shifts = [frame.hear(t) for t in moved(C_MAJOR, 2) * 2]  # D major from here on
    assert shifts[-1] == -2 and shifts[0] == 0
    assert shifts.index(-2) >= 4  # not at once: the estimate had to hold for 4 steps
    assert frame.hear(HOLD) == -2 and frame.reset(moved(C_MAJOR, 6)) == -6  # a prime sets it at once
    slow = KeyFrame(steps=16, hold=100)  # from silence the first key needs no waiting
    assert slow.hear(REST) == 0 and not slow.settled
    assert [slow.hear(t) for t in moved(C_MAJOR, 6)][-1] == -6  # F# major: 8 steps, not 100
    assert slow.settled  # eight sounding steps: from here another key must last
    assert [slow.hear(t) for t in moved(C_MAJOR, 2) * 2][-1] == -6


def test_until_settle_sounding_tokens_the_estimate_is_taken_at_once():
    """A frame that has heard fewer than ``settle`` sounding tokens follows its estimate with no
    hold; one that has heard that many holds its key. Eight steps of C, then F# major."""
    shifts = {}
    for settle in (8, 16):
        frame = KeyFrame(steps=12, hold=100, settle=settle)  # 12 tokens: the C steps leave it
        for t in C_MAJOR:
            frame.hear(t)
        shifts[settle] = [frame.hear(t) for t in moved(C_MAJOR, 6) + moved(C_MAJOR, 6)[:4]][-1]
    assert shifts == {8: 0, 16: -6}


def test_a_duet_plays_through_a_frame_that_hears_the_musician_only():
    from liveplay.model.keyframe import DUET_FRAME, for_play

    class Duet:  # what for_play reads of a bundle
        vocab = Vocabulary([(60,), (60, 64, 67)], 4)
        manifest = type("M", (), {"kind": "duet", "training": type("T", (), {"settings": {"augment": "normalise"}})})

    _, engine = for_play(Duet, FakeEngine(np.ones(4) / 4))
    frame = engine.frame
    assert (frame.steps, frame.hold, frame.settle, frame.parts, frame.listen) == (
        DUET_FRAME["steps"], DUET_FRAME["hold"], DUET_FRAME["settle"], 2, 1)


def test_the_frames_histogram_is_the_last_steps_sounding_however_long_it_has_heard():
    """Kept a step at a time, it equals a whole count of the window (what sounds in each of its
    steps, a chord held from before the window included) after any number of steps."""
    from liveplay.music.keys import histogram_shift, pitch_class_histogram

    rng = np.random.default_rng(3)
    pool = [HOLD, HOLD, REST, *C_MAJOR, *moved(C_MAJOR, 7), (61, 73)]
    heard = [pool[i] for i in rng.integers(len(pool), size=300)]
    frame = KeyFrame(steps=16, hold=4)
    frame.reset(heard[:5])
    for n in range(6, len(heard) + 1):
        frame.hear(heard[n - 1])
        whole = pitch_class_histogram(heard[:n]) - pitch_class_histogram(heard[:max(n - 16, 0)])
        assert np.array_equal(frame.hist, whole), n
        assert histogram_shift(frame.hist) in range(-6, 6)


class FakeEngine:
    """Records what the model is fed; answers with a fixed distribution on the model's ids."""

    name, context_length = "fake", 8

    def __init__(self, p):
        self.p, self.fed = p, []

    def reset(self, tokens=()):
        self.fed = list(tokens)

    def push(self, token):
        self.fed.append(token)

    def prepare(self):
        pass

    def distribution(self):
        return self.p

    def close(self):
        pass


def test_the_engine_moves_tokens_into_the_frame_and_the_answer_back_out():
    model = Vocabulary(sorted(set(C_MAJOR)), 4)
    play = play_vocabulary(model)
    assert play.chords[: len(model.chords)] == model.chords  # the model's own ids are kept
    assert all(play.contains(c) for s in range(-5, 7) for c in moved(model.chords, s))  # out of C: -5..+6
    tonic_triad = model.encode_token((60, 64, 67))
    p = np.zeros(len(model))
    p[tonic_triad], p[1] = 0.75, 0.25  # the model: "the tonic triad, or HOLD"
    inner = FakeEngine(p)
    engine = KeyFrameEngine(inner, model, play, KeyFrame(steps=16, hold=4))
    d_major = moved(C_MAJOR, 2)
    engine.reset(play.encode(d_major))
    assert engine.shift == -2
    assert model.decode(inner.fed) == C_MAJOR  # the model hears its own key
    q = engine.distribution()
    assert q.shape == (len(play),) and np.isclose(q.sum(), 1.0)
    assert q[play.encode_token((62, 66, 69))] == 0.75 and q[1] == 0.25  # D major's tonic triad, in concert pitch
    engine.push(play.encode_token((69, 73, 76)))
    assert model.decode_token(inner.fed[-1]) == (67, 71, 74)  # A major in D is G major in C


def test_a_file_in_play_frames_is_what_the_daemons_frame_feeds_the_model():
    """``train.augment: frame`` trains on exactly the model ids a ``KeyFrameEngine`` of the main
    engine's frame pushes into the model after a prime (``generate --prime``), a modulation
    included; moved by the whole piece's key, a piece that modulates is half out of C."""
    from liveplay.model.keyframe import SOLO_FRAME
    from liveplay.music.context import with_start
    from liveplay.music.keys import tonic_shift
    from liveplay.offline.memory import in_play_frames, in_reference_key

    piece = moved(C_MAJOR, 2) * 12 + moved(C_MAJOR, -3) * 24  # 96 steps of D major, then 192 of A major
    prime = 64
    framed = in_play_frames(piece, prime)
    assert len(framed) == len(piece)
    model = Vocabulary(sorted({t for t in framed if t not in (HOLD, REST)}), 4)
    play = play_vocabulary(model)
    assert all(play.contains(t) for t in piece)
    inner = FakeEngine(np.ones(len(model)) / len(model))
    engine = KeyFrameEngine(inner, model, play, KeyFrame(**SOLO_FRAME))
    ids = with_start(play.encode(piece))
    engine.reset(ids[:prime + 1])  # the start REST and the prime: the frame takes their key at once
    for i in ids[prime + 1:]:
        engine.push(i)
    assert model.decode(inner.fed) == [REST] + framed
    assert set(framed[:96]) <= set(C_MAJOR) and set(framed[-64:]) <= set(C_MAJOR)  # D, then A, heard as C
    late = framed[96:-64]  # A major heard in D's frame until the frame moves: as the daemon hears it
    assert (67, 71, 74) in late and 0 < sum(t not in C_MAJOR for t in late) < len(late)
    whole = set(in_reference_key(piece))  # one shift for the whole piece: one of the keys is left out of C
    assert not whole <= set(C_MAJOR)
    high = [(117,), (121,), (124,), (126,), (124,), (121,), (119,), (117, 121, 124)] * 12  # A major, up to F#9
    assert tonic_shift(high) == 3  # into C it would go up, past 127: the file as in_reference_key leaves it
    assert in_play_frames(high, 8) == in_reference_key(high) == high


def test_a_key_normalised_model_plays_a_prime_in_f_sharp_back_in_f_sharp(tmp_path, tiny_config, pattern_dir):
    """generate --prime through the key frame, on a tiny model trained with augment: normalise."""
    from liveplay import cli
    from liveplay.config import load_settings
    from liveplay.music.midifile import read_tokens, write_tokens
    from liveplay.offline.train import train

    from conftest import PATTERN, pattern_tokens, shifted

    config = tmp_path / "normalise.yaml"
    config.write_text(tiny_config.read_text().replace("transpose: [-1, 1]", "augment: normalise"))
    model = tmp_path / "model"
    train([pattern_dir], model, load_settings(config))
    prime = write_tokens(pattern_tokens(6, 3), tmp_path / "f-sharp.mid", 2, 120)  # the data: Bb..D, never F#
    out = tmp_path / "answer.mid"
    assert cli.main(["generate", "--config", str(config), "--model", str(model), "--out", str(out), "--prime",
                     str(prime), "--steps", "32", "--temperature", "0.2", "--seed", "4"]) == 0
    got = read_tokens(out, 2, 4)
    expected = shifted(PATTERN, 6) * 4
    assert sum(a == b for a, b in zip(got, expected)) >= 28, (got, expected)


def test_a_duet_frame_holds_each_part_on_its_own():
    """Interleaved (ours, the musician's) tokens: a HOLD continues its own part's chord, not the
    token before it, so a held melody note and a held chord each keep sounding in the count."""
    from liveplay.music.keys import pitch_class_histogram

    ours = [(48, 52, 55), HOLD, HOLD, (53, 57, 60), HOLD, REST]
    theirs = [(72,), (74,), HOLD, (77,), HOLD, HOLD]
    frame = KeyFrame(steps=64, hold=8, parts=2)
    frame.reset([REST, REST])  # a duet context's start pair
    for a, m in zip(ours, theirs):
        frame.hear(a)
        frame.hear(m)
    assert np.array_equal(frame.hist, pitch_class_histogram(ours) + pitch_class_histogram(theirs))
    single = KeyFrame(steps=64, hold=8)
    for a, m in zip(ours, theirs):
        single.hear(a)
        single.hear(m)
    assert not np.array_equal(single.hist, frame.hist)  # one stream would hold across the parts
    theirs_only = KeyFrame(steps=64, hold=8, parts=2, listen=1)
    theirs_only.reset([REST, REST])
    for a, m in zip(ours, theirs):
        theirs_only.hear(a)
        theirs_only.hear(m)
    assert np.array_equal(theirs_only.hist, pitch_class_histogram(theirs))  # a duet's key: the musician's


def test_a_frame_that_moves_rehears_the_last_tokens_in_the_new_key_after_the_decision():
    """``rehear``: the decision at the token that moved the shift is still the old frame's; a spare
    engine hears the last tokens moved by the new shift, in the next ``prepare`` (or ``push``: the
    same numbers), and takes over."""
    model = Vocabulary(sorted(set(C_MAJOR)), 4)
    play = play_vocabulary(model)
    p = np.zeros(len(model))
    p[model.encode_token((60, 64, 67))], p[1] = 0.75, 0.25
    engines = [KeyFrameEngine(FakeEngine(p), model, play, KeyFrame(steps=16, hold=4), rehear=4, spare=FakeEngine(p))
               for _ in range(2)]
    heard = play.encode(C_MAJOR * 2)
    for engine in engines:
        engine.reset(heard)
    d_major = play.encode(moved(C_MAJOR, 2) * 2)
    prepared, plain = engines
    for n, token in enumerate(d_major):
        for engine in engines:
            engine.push(token)
        heard.append(token)
        if prepared.frame.shift != prepared.shift:
            break
    else:
        raise AssertionError("the frame never moved")
    assert prepared.shift == 0 and prepared.inner.fed[-1] == prepared.into_frame(token, 0)  # heard in C ...
    assert prepared.distribution()[play.encode_token((60, 64, 67))] == 0.75  # ... and answered in C
    prepared.prepare()  # the daemon's settle: after the decision
    assert prepared.shift == -2
    assert prepared.inner.fed == [prepared.into_frame(t, -2) for t in heard[-4:]]  # the last 4, in D
    assert prepared.distribution()[play.encode_token((62, 66, 69))] == 0.75  # D major's tonic triad
    following = d_major[n + 1]
    prepared.push(following)
    plain.push(following)  # no prepare: the re-hearing comes first, the same numbers
    assert plain.inner.fed == prepared.inner.fed and plain.shift == -2
    never = KeyFrameEngine(FakeEngine(p), model, play, KeyFrame(steps=16, hold=4))  # no spare: a modulation
    never.reset(play.encode(C_MAJOR * 2))
    for token in d_major:
        never.push(token)
    assert never.shift == -2 and len(never.inner.fed) == 16 + len(d_major)  # never reset, every token heard once


def test_the_spare_catches_up_a_few_tokens_a_step_and_answers_stay_in_the_old_key_until_it_has():
    model = Vocabulary(sorted(set(C_MAJOR)), 4)
    play = play_vocabulary(model)
    p = np.zeros(len(model))
    p[model.encode_token((60, 64, 67))], p[1] = 0.75, 0.25
    spare = FakeEngine(p)
    engine = KeyFrameEngine(FakeEngine(p), model, play, KeyFrame(steps=16, hold=4), rehear=8, spare=spare, catch_up=3)
    heard = play.encode(C_MAJOR * 2)
    engine.reset(heard)
    shifts, fed, at = [], [], None
    for token in play.encode(moved(C_MAJOR, 2) * 4):
        engine.push(token)
        heard.append(token)
        if engine.frame.shift != 0 and at is None:
            at = len(heard)  # the move: the spare will hear heard[at - 8:] and what follows
        engine.prepare()
        shifts.append(engine.shift)
        fed.append(len(spare.fed))
    moved_at = next(i for i, f in enumerate(fed) if f)
    # 8 tokens, then one more a step: 3 a step drains them in 4 steps; the answers are C's until then
    assert shifts[moved_at: moved_at + 3] == [0, 0, 0] and shifts[moved_at + 3] == -2
    assert fed[moved_at: moved_at + 4] == [3, 6, 9, 11]
    assert engine.inner is spare and spare.fed == [engine.into_frame(t, -2) for t in heard[at - 8:]]  # then all in D
    assert all(s == -2 for s in shifts[moved_at + 3:])


def test_a_duet_rehears_from_one_of_its_own_tokens():
    """Interleaved parts: the tokens heard again start at an even index (ours), whatever ``rehear``."""
    model = Vocabulary(sorted(set(C_MAJOR)), 4)
    play = play_vocabulary(model)
    uniform = np.ones(len(model)) / len(model)
    for rehear in (5, 6):
        engine = KeyFrameEngine(FakeEngine(uniform), model, play,
                                KeyFrame(steps=16, hold=4, parts=2, listen=1, settle=4), rehear=rehear,
                                spare=FakeEngine(uniform))
        pushed = [REST, REST]
        engine.reset(play.encode(pushed))
        steps = [token for melody in C_MAJOR * 2 + moved(C_MAJOR, 5) * 3 for token in (REST, melody)]
        for token in steps:
            engine.push(play.encode_token(token))
            pushed.append(token)
            if engine.frame.shift != engine.shift:  # on either part's token: the hold counts both
                engine.prepare()
                fed = engine.inner.fed
                start = len(pushed) - len(fed)
                assert start % 2 == 0 and len(fed) in (rehear, rehear - 1), (rehear, start, len(fed))
                assert fed == [engine.into_frame(t, engine.shift) for t in play.encode(pushed[start:])]
                assert engine.shift == -5
                break
        else:
            raise AssertionError("the frame never moved")
