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


def synthetic_steps(seed, n=4000):
    """Steps where the corpus knows the answer when the first feature is high, the model otherwise."""
    from liveplay.model.longterm import GATE_FEATURES

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(GATE_FEATURES)))
    corpus_knows = x[:, 0] > 0.5
    p_model = np.where(corpus_knows, rng.uniform(0.001, 0.05, n), rng.uniform(0.3, 0.9, n))
    p_corpus = np.where(corpus_knows, rng.uniform(0.3, 0.9, n), rng.uniform(0.001, 0.05, n))
    p_match = np.where(rng.random(n) < 0.5, -1.0, rng.uniform(0.0, 0.5, n))
    return x, p_model, p_corpus, p_match


def mix_log_likelihood(share, p_model, p_corpus, p_match, short):
    inner = (1 - share) * p_model + share * p_corpus
    return np.log(np.where(p_match >= 0, (1 - short) * inner + short * np.maximum(p_match, 0), inner)).mean()


def test_a_fitted_gate_trusts_the_corpus_where_it_knows_better_and_beats_every_fixed_share():
    from liveplay.offline.gate import fit_gate

    x, pm, pc, ps = synthetic_steps(0)
    gate = fit_gate(x, pm, pc, ps, short=0.2, prior=0.05)
    hx, hm, hc, hs = synthetic_steps(1)  # scored on steps it was not fitted on
    shares = np.array([gate.share(row) for row in hx])
    knows = hx[:, 0] > 0.5
    assert shares[knows].mean() > 0.7 and shares[~knows].mean() < 0.3
    best_fixed = max(mix_log_likelihood(np.full(len(hm), s), hm, hc, hs, 0.2) for s in np.linspace(0.01, 0.99, 50))
    assert mix_log_likelihood(shares, hm, hc, hs, 0.2) > best_fixed + 0.3


def test_an_unfitted_gate_is_the_fixed_share_and_a_gated_engine_mixes_by_its_share():
    from liveplay.model.longterm import GATE_FEATURES, Gate, gate_features

    tables = CorpusTables.fit(corpus(0), 9, 8)
    n = len(GATE_FEATURES)
    flat = Gate(np.zeros(n), np.ones(n), np.r_[np.zeros(n), np.log(0.25 / 0.75)])
    chords = np.array([False, False] + [True] * 7)
    probs = np.arange(1, 10, dtype=float)
    history = [0, 5, 2, 3, 4, 3, 5, 1, 1]
    gated, fixed = (LongTermEngine(FixedEngine(probs, 32), tables, 0.25, g, chords) for g in (flat, None))
    for engine in (gated, fixed):
        engine.reset(history)
    assert gated.name.endswith("long-term gated") and np.allclose(gated.distribution(), fixed.distribution())
    leaning = Gate(np.zeros(n), np.ones(n), np.r_[np.zeros(5), 3.0, np.zeros(n - 6), -1.0])  # chords: more corpus
    engine = LongTermEngine(FixedEngine(probs, 32), tables, 0.25, leaning, chords)
    engine.reset(history)
    p, q = probs / probs.sum(), tables.distribution(history)
    share = leaning.share(gate_features(p, q, history, chords))
    assert share == pytest.approx(1 / (1 + np.exp(-(3.0 * chords[history].mean() - 1.0))))
    assert np.allclose(engine.distribution(), (1 - share) * p + share * q) and engine.distribution().sum() == pytest.approx(1)
    with pytest.raises(ValueError, match="chord ids"):
        LongTermEngine(FixedEngine(probs, 32), tables, 0.25, leaning)


def test_the_gate_rides_in_the_file_and_a_bad_gate_is_named(tmp_path):
    from liveplay.model.longterm import GATE_FEATURES, Gate

    n = len(GATE_FEATURES)
    tables = CorpusTables.fit(corpus(0), 9, 4)
    tables.gate = Gate(np.arange(n) / 10, np.ones(n) * 2, np.arange(n + 1) / 7)
    tables.save(tmp_path / "longterm.npz")
    back = CorpusTables.load(tmp_path / "longterm.npz", 9).gate
    assert all(np.array_equal(a, b) for a, b in ((back.mean, tables.gate.mean), (back.scale, tables.gate.scale),
                                                 (back.theta, tables.gate.theta)))
    with np.load(tmp_path / "longterm.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    for broken in ({"gate_theta": np.zeros(3)}, {"gate_scale": np.zeros(n)}, {"gate_mean": np.full(n, np.nan)}):
        np.savez(tmp_path / "bad.npz", **(arrays | broken))
        with pytest.raises(BundleError, match="bad.npz.*gate"):
            CorpusTables.load(tmp_path / "bad.npz", 9)
    np.savez(tmp_path / "bad.npz", **{k: v for k, v in arrays.items() if k != "gate_scale"})
    with pytest.raises(BundleError, match="bad.npz.*gate_scale"):
        CorpusTables.load(tmp_path / "bad.npz", 9)


def test_liveplay_longterm_gate_fits_on_the_validation_files_and_the_daemons_engine_follows_it(tiny_model, tmp_path,
                                                                                                 capsys, caplog):
    """`liveplay longterm --gate` fits the gate on the manifest's validation files, through the
    daemon's path, reports it on two folds, and keeps it in the file; make_engine plays it unless
    model.long_term_gate is off."""
    import json
    import logging
    import shutil

    from liveplay import cli
    from liveplay.errors import EXIT_USAGE
    from liveplay.model.bundle import load_bundle
    from liveplay.model.longterm import FILE, gate_features
    from liveplay.model.runtime import make_engine
    from liveplay.music.tokens import chord_targets
    from liveplay.offline.evaluate import load_sequences, training_files

    bundle_dir = tmp_path / "tiny"
    shutil.copytree(tiny_model, bundle_dir)
    assert cli.main(["longterm", "--model", str(bundle_dir), "--order", "4", "--gate"]) == 0
    out = capsys.readouterr().out
    assert "gate fitted on the even files" in out and "gate fitted on the odd files" in out and "perplexity" in out
    bundle = load_bundle(bundle_dir)
    gate = CorpusTables.load(bundle_dir / FILE, len(bundle.vocab)).gate
    assert gate is not None and not np.allclose(gate.theta[:-1], 0)  # fitted, not the prior left as it was
    engine, fixed, alone = (make_engine(bundle, "numpy", long_term=lt, long_term_gate=g)
                            for lt, g in ((0.3, True), (0.3, False), (0.0, True)))
    assert engine.name.endswith("long-term gated") and fixed.name.endswith("long-term 0.3")
    tables = CorpusTables.load(bundle_dir / FILE, len(bundle.vocab))
    history = load_sequences(bundle, training_files(bundle))[0][:20]
    for e in (engine, alone):
        e.reset(history)
    p, q = alone.distribution(), tables.distribution(history)
    share = gate.share(gate_features(p, q, history, chords_of := chord_targets(bundle.vocab)))
    assert 0 < share < 1 and chords_of.any()
    assert np.allclose(engine.distribution(), (1 - share) * p + share * q)
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    manifest["training"]["files"]["validation"] = [str(tmp_path / "gone.mid")]
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.ERROR):
        assert cli.main(["longterm", "--model", str(bundle_dir), "--order", "4", "--gate"]) == EXIT_USAGE
    assert "validation files is on disk" in caplog.text
