"""The shipped bundle loads with the NumPy engine and answers sanely (CI does not retrain it)."""

from pathlib import Path

import numpy as np

from liveplay.model.bundle import load_bundle
from liveplay.config import load_settings
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.music.tokens import HOLD_ID, REST_ID

DEFAULT = Path(__file__).resolve().parents[2] / "models" / "default"


def test_config_points_at_the_shipped_model():
    assert Path(load_settings().model.path) == DEFAULT


def test_shipped_bundle_gives_sane_distributions():
    b = load_bundle(DEFAULT)
    engine = NumpyEngine(b)
    c_major, a_minor = b.vocab.encode_token((60, 64, 67)), b.vocab.encode_token((57, 60, 64))
    answers = []
    for context in ([REST_ID], [REST_ID, c_major, HOLD_ID, c_major], [REST_ID, a_minor, HOLD_ID, REST_ID]):
        engine.reset(context)
        p = engine.distribution()
        assert p.shape == (b.architecture.vocab_size,)
        assert abs(p.sum() - 1) < 1e-9 and (p >= 0).all()
        assert p.max() < 0.99 and (p > 1e-3).sum() >= 3  # not one-hot
        answers.append(p)
    assert np.abs(answers[1] - answers[2]).max() > 0.01  # different contexts, different answers
    assert np.abs(answers[0] - answers[1]).max() > 0.01


def test_shipped_bundle_has_a_fixed_test_split_never_trained_on():
    files = load_bundle(DEFAULT, weights=False).manifest.training.files.as_dict()
    assert len(files["test"]) > 100
    assert not set(files["test"]) & set(files["train"])
    assert not set(files["test"]) & set(files["validation"])


def test_the_shipped_model_answers_in_the_key_it_hears_in_c_and_in_f_sharp():
    """Through the daemon's path (the key frame around the short-term and the long-term models,
    the answer keeping the melody's key; the sampler's defaults): a 16-beat melody in C
    major, and the same a tritone up; seeded 16-beat answers in the melody's key. A model without
    the frame, a model that learned C would answer F# in C; chance is about 1 in 6 (docs/LISTENING.md)."""
    from liveplay.model.keyframe import for_play
    from liveplay.model.runtime import keeper_for, make_engine
    from liveplay.music.keys import key_of, pitch_class_histogram
    from liveplay.music.sampler import Sampler
    from liveplay.music.tokens import HOLD
    from liveplay.offline.generate import continue_ids

    b = load_bundle(DEFAULT)
    spb = b.grid.steps_per_beat
    melody = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 67, 64, 60, 60]  # one beat each
    m = load_settings().model
    vocab, engine = for_play(b, make_engine(b, "numpy", 1, m.short_term, long_term=m.long_term,
                                          long_term_gate=m.long_term_gate))
    keeper = keeper_for(b, vocab, engine, m.key_keeping)
    assert keeper is not None
    hits = {}
    for keeping in (keeper, None):  # as the daemon answers; the same seeds without key keeping
        for semitones in (0, 6):
            prime = [t for p in melody for t in [(p + semitones,)] + [HOLD] * (spb - 1)]
            key = key_of(pitch_class_histogram(prime))
            assert key == (semitones, "major")
            hits[keeping is not None, semitones] = sum(
                key_of(pitch_class_histogram(vocab.decode(continue_ids(
                    engine, Sampler(load_settings().sampler, seed=seed), vocab.encode(prime), 16 * spb,
                    keeping)[0]))) == key
                for seed in range(12))
    # measured: 11 and 10 of 12 keeping the prime's key (0.5; A major 11), 9 and 10 without (the
    # model before this one: 10 and 12 keeping, 8 and 9 without; the four-note model: 10 and 8)
    kept, alone = (sum(hits[k, s] for s in (0, 6)) for k in (True, False))
    assert min(hits[True, s] for s in (0, 6)) >= 5 and kept >= 12, hits
    assert kept > alone, hits  # the keeper keeps the key more often than the model alone


DUET = Path(__file__).resolve().parents[2] / "models" / "duet"


def test_accompany_plays_the_shipped_duet_model_under_a_melody_in_its_key_in_c_and_in_f_sharp():
    """The duet bundle accompany mode loads by default, through the daemon's path (its key frame
    around the ear, the sampler's defaults): 12 seeded accompaniments of a 32-beat C major
    melody, and of the same a tritone up, in the melody's key. Chance is about 1 in 6."""
    from liveplay.model.keyframe import for_play
    from liveplay.model.runtime import make_engine
    from liveplay.music.keys import key_of, pitch_class_histogram
    from liveplay.music.sampler import Sampler
    from liveplay.music.tokens import HOLD
    from liveplay.offline.duet_eval import accompany

    settings = load_settings()
    assert Path(settings.model.duet) == DUET and settings.model.harmony > 0
    b = load_bundle(DUET)
    assert b.manifest.kind == "duet" and b.grid.steps_per_beat == load_bundle(DEFAULT, weights=False).grid.steps_per_beat
    spb = b.grid.steps_per_beat
    melody = [72, 74, 76, 77, 79, 77, 76, 74, 72, 76, 79, 84, 79, 76, 72, 72] * 2  # one beat each
    hits = {}
    for rehearing in (True, False):  # the daemon's path (a spare re-hears a move of the frame); a modulation
        vocab, engine = for_play(b, make_engine(b, "numpy", 1, harmony=settings.model.harmony),
                                 spare=make_engine(b, "numpy", 1, harmony=settings.model.harmony) if rehearing else None)
        assert "harmony" in engine.inner.name and (engine.rehear > 0) == rehearing
        for semitones in (0, 6):
            tune = [t for p in melody for t in [(p + semitones,)] + [HOLD] * (spb - 1)]
            key = key_of(pitch_class_histogram(tune))
            assert key == (semitones, "major")
            hits[rehearing, semitones] = sum(
                key_of(pitch_class_histogram(vocab.decode(accompany(
                    engine, Sampler(settings.sampler.accompanying(), seed=seed), vocab.encode(tune))))) == key
                for seed in range(12))
    # measured: 12 and 12 of 12 in C and F# as the daemon plays (re-hearing), 11 and 8 hearing a
    # modulation (the model alone: 6 and 10)
    assert min(hits[True, s] for s in (0, 6)) >= 6 and sum(hits[True, s] for s in (0, 6)) >= 16, hits
    assert sum(hits[True, s] for s in (0, 6)) >= sum(hits[False, s] for s in (0, 6)), hits


def test_the_daemon_gives_the_shipped_duet_a_spare_that_re_hears_a_move_of_its_key_frame():
    """``live/app.py``'s duet voice: the key frame with a spare engine on the duet's weights."""
    from contextlib import ExitStack

    from liveplay.live.app import _duet
    from liveplay.model.keyframe import DUET_REHEAR, KeyFrameEngine

    settings = load_settings()
    with ExitStack() as stack:
        voice = _duet(stack, settings, load_bundle(DUET, weights=False).grid.steps_per_beat)
        engine = voice.context.engine
        assert isinstance(engine, KeyFrameEngine)
        assert engine.rehear == DUET_REHEAR and engine.spare is not None and engine.spare is not engine.inner
        assert engine.spare.name == engine.inner.name  # the same engine and ear, on the same weights
