"""The long-term model: the same answer as the PPM baseline, compact tables, a checked file, the mixture."""

import numpy as np
import pytest

from liveplay.errors import BundleError
from liveplay.model.longterm import CorpusTables, LongTermEngine
from liveplay.offline.ppm import PPM

from conftest import FixedEngine


def corpus(seed=0, pieces=40, vocab=9):
    """Sequences with a repeated phrase in each (as music has) and random notes around it."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(pieces):
        phrase = [2, 3, 4, 3, 5, 1, 1, 6]
        seq = [0, *rng.integers(0, vocab, size=rng.integers(3, 30)), *phrase, *rng.integers(0, vocab, size=10)]
        out.append([int(t) for t in seq])
    return out


@pytest.mark.parametrize("order", [0, 1, 3, 8])
def test_unpruned_tables_answer_as_the_ppm_baseline_does(order):
    """With every context kept, the hashed tables are PPM-C with exclusion, number for number."""
    train, held = corpus(0), corpus(1, pieces=6)
    ppm, tables = PPM(order, 9).fit(train), CorpusTables.fit(train, 9, order, min_count=1)
    for seq in held:
        for i in range(len(seq) + 1):
            assert np.allclose(tables.distribution(seq[:i]), ppm.distribution(seq[:i]), atol=1e-12), (order, seq, i)


def test_pruning_drops_long_contexts_seen_once_and_keeps_what_recurs():
    train = corpus(0)
    full, pruned = CorpusTables.fit(train, 9, 8, min_count=1), CorpusTables.fit(train, 9, 8)
    assert all(len(pruned.keys[k]) == len(full.keys[k]) for k in (0, 1))  # orders 0 and 1 are kept whole
    assert sum(len(k) for k in pruned.keys[2:]) < 0.5 * sum(len(k) for k in full.keys[2:])
    history = [0, 7, 2, 3, 4, 3, 5, 1, 1]  # the phrase (in every piece: '6' next) after a 7, seen twice
    p = pruned.distribution(history)
    assert int(np.argmax(p)) == 6 and p[6] > 0.6 and p[6] == pytest.approx(full.distribution(history)[6])
    assert p.sum() == pytest.approx(1.0)


def test_the_file_round_trips_and_a_bad_one_is_named(tmp_path):
    tables = CorpusTables.fit(corpus(0), 9, 4)
    path = tmp_path / "longterm.npz"
    tables.save(path)
    back = CorpusTables.load(path, 9)
    for seq in corpus(2, pieces=3):
        assert np.array_equal(back.distribution(seq), tables.distribution(seq))
    with pytest.raises(BundleError, match="longterm.npz.*counted over 9 tokens, the model has 12"):
        CorpusTables.load(path, 12)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BundleError, match="longterm.npz.*not a readable .npz"):
        CorpusTables.load(path, 9)
    with pytest.raises(BundleError, match="missing.*liveplay longterm"):
        CorpusTables.load(tmp_path / "none.npz", 9)
    arrays = {"vocab_size": np.array([9]), "keys0": np.array([0], dtype=np.uint64), "offsets0": np.array([0, 1]),
              "tokens0": np.array([99], dtype=np.uint16), "counts0": np.array([1], dtype=np.uint32)}
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(BundleError, match="bad.npz.*tokens0"):
        CorpusTables.load(tmp_path / "bad.npz", 9)


def test_the_engine_mixes_the_corpus_into_the_model_on_its_last_tokens():
    tables = CorpusTables.fit(corpus(0), 9, 8)
    inner = FixedEngine(np.ones(9), 32)
    engine = LongTermEngine(inner, tables, 0.25)
    history = [0, 5, 2, 3, 4, 3, 5, 1, 1]
    engine.reset(history[:4])
    for t in history[4:]:
        engine.push(t)
    expected = 0.75 * np.full(9, 1 / 9) + 0.25 * tables.distribution(history)
    assert np.allclose(engine.distribution(), expected) and engine.distribution()[6] > 0.25
    with pytest.raises(ValueError, match="long-term weight"):
        LongTermEngine(inner, tables, 1.0)
    with pytest.raises(ValueError, match="over 9 tokens"):
        LongTermEngine(FixedEngine(np.ones(12), 32), tables, 0.2)


def test_liveplay_longterm_counts_the_training_files_and_the_daemons_engine_mixes_them(tiny_model, tmp_path,
                                                                                        caplog):
    """`liveplay longterm` counts the manifest's training files in the model's tokens; make_engine
    mixes them in when the bundle has them, and without them says so and plays the model alone."""
    import logging
    import shutil

    from liveplay import cli
    from liveplay.model.bundle import load_bundle
    from liveplay.model.longterm import FILE
    from liveplay.model.runtime import make_engine
    from liveplay.offline.evaluate import load_sequences, training_files
    from liveplay.offline.ppm import PPM

    bundle_dir = tmp_path / "tiny"
    shutil.copytree(tiny_model, bundle_dir)
    bundle = load_bundle(bundle_dir)
    with caplog.at_level(logging.INFO):
        alone = make_engine(bundle, "numpy", long_term=0.3)
    assert "long-term" not in alone.name and f"has no {FILE}" in caplog.text
    assert cli.main(["longterm", "--model", str(bundle_dir), "--order", "4"]) == 0
    sequences = load_sequences(bundle, training_files(bundle))
    tables = CorpusTables.load(bundle_dir / FILE, len(bundle.vocab))
    assert tables.order == 4 and int(tables.counts[0].sum()) == sum(len(s) for s in sequences)
    engine = make_engine(bundle, "numpy", long_term=0.3)
    assert engine.name.endswith("+ long-term 0.3")
    history = sequences[0][:20]
    engine.reset(history)
    alone.reset(history)
    ppm = PPM(4, len(bundle.vocab)).fit(sequences)
    pruned = tables.distribution(history)
    assert np.allclose(engine.distribution(), 0.7 * alone.distribution() + 0.3 * pruned)
    assert int(np.argmax(pruned)) == int(np.argmax(ppm.distribution(history)))  # what recurs is kept
    (bundle_dir / FILE).write_bytes(b"not a zip")
    with pytest.raises(BundleError, match=f"{FILE}.*not a readable"):
        make_engine(bundle, "numpy", long_term=0.3)
