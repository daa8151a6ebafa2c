"""A trained bundle grown onto a new chord vocabulary (offline/grow.py), then trained on."""

import json

import numpy as np
import pytest

from liveplay import cli
from liveplay.model.bundle import load_bundle
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.music.context import with_start
from liveplay.music.tokens import Vocabulary
from liveplay.offline.grow import grow, grown_arrays

from conftest import pattern_tokens


def test_the_grown_model_starts_where_the_old_one_was(tiny_model, tmp_path):
    old = load_bundle(tiny_model)
    grow(old, tmp_path / "grown", max_notes=2, voicing="outer", size=64)
    new = load_bundle(tmp_path / "grown")
    assert new.grid.voicing == "outer" and new.grid.max_notes == 2
    assert all(len(c) <= 2 for c in new.vocab.chords) and (60, 67) in new.vocab.chords  # C major's outer voices
    assert new.manifest.training.files == old.manifest.training.files  # the split is kept
    assert new.manifest.training.epochs_run == 0 and "grown from" in new.manifest.training.fine_tuned_from
    # the new ids' old ids: the same music read by both models
    to_old = np.array([0, 1] + [old.vocab.encode_token(c) for c in new.vocab.chords])
    image = np.unique(to_old)
    tokens = new.vocab.encode(pattern_tokens(1, 3))
    a, b = NumpyEngine(old), NumpyEngine(new)
    a.reset(with_start([int(to_old[t]) for t in tokens])[:-1])
    b.reset(with_start(tokens)[:-1])
    p_old, p_new = a.distribution(), b.distribution()
    folded = np.zeros(len(old.vocab))
    np.add.at(folded, to_old, p_new)  # the new chords' probabilities summed onto the old ones
    expected = np.zeros(len(old.vocab))
    expected[image] = p_old[image] / p_old[image].sum()  # old chords no new one maps to are gone
    np.testing.assert_allclose(folded, expected, atol=1e-5)


def test_new_chords_of_one_old_chord_share_its_probability_by_their_counts(tiny_model):
    old = load_bundle(tiny_model)
    first = old.vocab.chords[0]
    variants = [first] + [v for v in ((first[0] - 1, *first[1:]), (*first[:-1], first[-1] + 1), (first[0] + 1, *first[1:]))
                          if v not in old.vocab.chords and old.vocab.encode_token(v) == old.vocab.encode_token(first)]
    assert len(variants) > 1  # chords the old vocabulary maps onto its first
    vocab = Vocabulary(variants, old.grid.max_notes, [3, 1, 1, 1][: len(variants)])
    grown = grown_arrays(old, vocab)
    share = np.exp(grown["dense.bias"][2:] - old.weights["dense.bias"][old.vocab.encode_token(first)])
    np.testing.assert_allclose(share, np.array(vocab.counts) / sum(vocab.counts), rtol=1e-5)
    np.testing.assert_array_equal(grown["embedding"][2:], old.weights["embedding"][[old.vocab.encode_token(first)] * len(variants)])


def test_liveplay_train_goes_on_from_a_grown_bundle(tiny_model, tiny_config, pattern_dir, tmp_path):
    grow(load_bundle(tiny_model), tmp_path / "grown", max_notes=2, voicing="outer", size=64)
    chords = load_bundle(tmp_path / "grown").vocab.chords
    assert cli.main(["train", str(pattern_dir), "--out", str(tmp_path / "grown"), "--config", str(tiny_config),
                     "--epochs", "2"]) == 0
    trained = load_bundle(tmp_path / "grown")
    assert trained.vocab.chords == chords and trained.grid.voicing == "outer"
    m = json.loads((tmp_path / "grown" / "manifest.json").read_text())
    assert m["grid"]["voicing"] == "outer" and m["training"]["epochs_run"] == 2
    assert "grown from" in m["training"]["fine_tuned_from"]  # a resumed run keeps where it came from


def test_growing_a_bundle_without_training_files_says_so(tiny_model, tmp_path):
    import dataclasses

    old = load_bundle(tiny_model)
    bare = dataclasses.replace(old, manifest=dataclasses.replace(
        old.manifest, training=dataclasses.replace(old.manifest.training, files=type(old.manifest.training.files)())))
    with pytest.raises(ValueError, match="none of the training files"):
        grow(bare, tmp_path / "grown", 2, "outer", 64)
    gone = dataclasses.replace(old, manifest=dataclasses.replace(old.manifest, training=dataclasses.replace(
        old.manifest.training, files=dataclasses.replace(old.manifest.training.files, train=(str(tmp_path / "x.mid"),)))))
    with pytest.raises(ValueError, match="none of the training files its manifest lists is on disk"):
        grow(gone, tmp_path / "grown", 2, "outer", 64)  # exported again since: named, not a crash


def test_growing_what_the_grower_cannot_rebuild_says_so(tiny_model, tmp_path):
    import dataclasses

    old = load_bundle(tiny_model)
    t = old.manifest.training
    randomly = dataclasses.replace(old, manifest=dataclasses.replace(
        old.manifest, training=dataclasses.replace(t, settings={**t.settings, "augment": "random"})))
    with pytest.raises(ValueError, match="augment 'random' is not supported"):
        grow(randomly, tmp_path / "a", 2, "outer", 64)
    with pytest.raises(ValueError, match="max_notes must be 1..16"):
        grow(old, tmp_path / "b", 0, "outer", 64)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing written
