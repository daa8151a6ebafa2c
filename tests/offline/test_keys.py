"""Every key: random transposition per window and epoch, and folder weights, in the real trainer."""

import numpy as np
import pytest

from liveplay.config import load_settings
from liveplay.model.bundle import load_bundle
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.music.context import with_start
from liveplay.music.midifile import read_tokens, write_tokens
from liveplay.music.tokens import HOLD, REST, Vocabulary, transposition_table
from liveplay.offline.evaluate import score_engine
from liveplay.offline.train import train

from conftest import PATTERN, pattern_tokens


def test_the_transposition_table_moves_chords_and_keeps_rest_and_hold():
    vocab = Vocabulary.build([[(60,), (62,), HOLD, REST, (60, 64)]], 16, 4, shifts=range(-2, 3))
    assert (62, 66) in vocab.chords and (58,) in vocab.chords  # counted in every key
    table = transposition_table(vocab, [-2, 0, 2])
    c = vocab.encode_token((60, 64))
    assert vocab.decode_token(int(table[2, c])) == (62, 66) and vocab.decode_token(int(table[0, c])) == (58, 62)
    assert table[1, c] == c and (table[:, 0] == 0).all() and (table[:, 1] == 1).all()


def test_a_model_trained_in_one_key_with_random_keys_plays_the_pattern_in_another(tmp_path, tiny_config):
    data = tmp_path / "one-key"
    data.mkdir()
    for i in range(10):
        write_tokens(pattern_tokens(0, 24), data / f"piece{i:02d}.mid", 2, 120)
    config = tmp_path / "random.yaml"
    config.write_text(tiny_config.read_text().replace(
        "transpose: [-1, 1]", "transpose: [-3, 3]\n  augment: random\n  folder_weights: [one-key=0.7]"))
    settings = load_settings(config)
    assert settings.train.augment == "random" and settings.train.folder_weights == ("one-key=0.7",)
    manifest = train([data], tmp_path / "model", settings)
    assert manifest.training.settings["augment"] == "random"
    bundle = load_bundle(tmp_path / "model")
    unseen = write_tokens(pattern_tokens(2, 6), tmp_path / "d-major.mid", 2, 120)  # a key never in the data
    seq = with_start(bundle.vocab.encode(read_tokens(unseen, 2, 4)))
    assert all(bundle.vocab.contains(t) for t in read_tokens(unseen, 2, 4))
    scores = score_engine(NumpyEngine(bundle), [seq])
    assert scores.accuracy >= 0.8, scores  # the misses: the first notes, before the key is heard
    assert len(PATTERN) == 8 and np.isfinite(scores.perplexity)


@pytest.mark.parametrize("augment", ["normalise", "frame"])
def test_a_key_normalised_model_learns_one_key_and_answers_in_a_key_it_never_heard(tmp_path, tiny_config, pattern_dir,
                                                                                     capsys, augment):
    """augment: normalise moves every file to a tonic of C, frame every step by the key heard up to
    it (here: each file's one key); evaluate moves each piece by its prime's key."""
    import json

    from liveplay import cli
    from liveplay.model.keyframe import key_normalised

    config = tmp_path / f"{augment}.yaml"
    config.write_text(tiny_config.read_text().replace("transpose: [-1, 1]", f"augment: {augment}"))
    out = tmp_path / "model"
    train([pattern_dir], out, load_settings(config))
    bundle = load_bundle(out)
    assert bundle.manifest.training.settings["augment"] == augment and key_normalised(bundle)
    # the five keys of the data became one: only the pattern's chords in C, plus REST and HOLD
    assert sorted(bundle.vocab.chords) == sorted(t for t in PATTERN if isinstance(t, tuple))

    def run(*extra):
        assert cli.main(["evaluate", "--config", str(config), "--model", str(out), "--json", "--steps", "32",
                         "--split", "test", "--no-baselines", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    # the data's keys are Bb..D; four up they are D..F# (four of five never heard), which the frame moves
    # down to the same C (a move the other way would land an octave up: the tiny vocabulary has one octave)
    for semitones in (0, 4):
        report = run("--transpose", str(semitones))
        assert report["vocabulary_coverage"]["chords"] == 1.0, semitones  # in the frame, every chord is known
        assert report["model_scores"]["accuracy"] >= 0.9, (semitones, report["model_scores"])
        assert report["listening"]["all"]["key_agreement_model"] == 1.0, semitones
