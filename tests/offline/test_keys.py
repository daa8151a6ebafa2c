"""Every key: random transposition per window and epoch, and folder weights, in the real trainer."""

import numpy as np

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
