"""The listening figures on the tiny model: it continues its pattern in the prime's key."""

import re

import numpy as np

from liveplay.config import load_settings
from liveplay.model.bundle import load_bundle
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.music.midifile import read_tokens
from liveplay.offline.listening import listening, share_interval


def test_continuations_keep_the_primes_key_chance_does_not(tiny_model, tiny_config, pattern_dir):
    bundle = load_bundle(tiny_model)
    settings = load_settings(tiny_config).override({"sampler.temperature": 0.2})
    pieces = [(str(f), read_tokens(f, 2, 4)) for f in sorted(pattern_dir.glob("*.mid"))]
    report = listening(bundle, NumpyEngine(bundle), settings.sampler, pieces, seed=1)
    every = report["all"]
    assert every["pieces"] == 10 and set(report) == {pattern_dir.name, "all", "quantisation_loss"}
    assert every["key_agreement_data"] == 1.0  # the pattern repeats itself
    assert every["key_agreement_model"] >= 0.9
    assert every["key_agreement_chance"] <= 0.6  # another file is mostly in another key
    assert every["pc_cosine_model"] > every["pc_cosine_chance"]
    assert every["chord_share_data"] == 0.75  # three chords and a single note every bar
    assert abs(every["chord_share_model"] - 0.75) <= 0.1 and every["ioi_overlap"] >= 0.8
    assert report["quantisation_loss"] == {pattern_dir.name: 0.0}  # written on the grid


def test_the_models_figures_are_the_mean_of_its_answers(tiny_model, tiny_config, pattern_dir):
    """Three answers a prime are the three one-answer runs seeded a file count apart, averaged."""
    bundle = load_bundle(tiny_model)
    settings = load_settings(tiny_config).override({"sampler.temperature": 1.5})  # answers that differ
    pieces = [(str(f), read_tokens(f, 2, 4)) for f in sorted(pattern_dir.glob("*.mid"))]
    engine = NumpyEngine(bundle)
    three = listening(bundle, engine, settings.sampler, pieces, seed=1, answers=3)["all"]
    ones = [listening(bundle, engine, settings.sampler, pieces, seed=1 + k * len(pieces))["all"] for k in range(3)]
    assert three["answers"] == 3 and all(one["answers"] == 1 for one in ones)
    for figure in ("key_agreement_model", "pc_cosine_model"):
        assert abs(three[figure] - sum(one[figure] for one in ones) / 3) < 1e-3
    assert len({one["pc_cosine_model"] for one in ones}) > 1  # the seeds did sample differently
    for figure in ("key_agreement_data", "pc_cosine_data", "key_agreement_chance"):
        assert three[figure] == ones[0][figure]  # the data's side is what it was


def test_a_share_and_its_interval_over_primes():
    """The model's figure over the data's, mean over mean, and a bootstrap interval that narrows
    as primes are added and covers the true share about as often as it says."""
    same = np.array([[1.0, 1.0], [1.0, 1.0], [0.5, 0.5], [1.0, 1.0]])
    assert share_interval(same) == (1.0, [1.0, 1.0])  # paired: every draw has the model's mean equal the data's
    assert share_interval(np.array([[0.5, 0.8]])) == (0.625, None)  # one prime: nothing to resample
    rows = np.array([[0.5, 1.0], [0.25, 1.0], [0.75, 0.0], [1.0, 1.0]])
    point, (low, high) = share_interval(rows)
    assert point == round(2.5 / 3, 4) and low < point < high
    assert share_interval(rows) == share_interval(rows)  # seeded
    _, (low4, high4) = share_interval(np.tile(rows, (4, 1)))
    _, (low64, high64) = share_interval(np.tile(rows, (64, 1)))  # 16 times the primes: a quarter as wide
    assert low4 < point < high4 and 0.15 < (high64 - low64) / (high4 - low4) < 0.4
    assert share_interval(np.array([[0.5, 0.0], [0.0, 0.0]])) == (None, None)  # the data never agrees
    point, (low, high) = share_interval(np.array([[0.5, 1.0], [0.5, 0.0], [0.5, 0.0]]))
    assert point == 1.5 and high is None  # (2/3)^3 of the draws find the data at 0: no upper bound
    point, (low, high) = share_interval(np.array([[0.25, 1.0], [0.0, 0.0], [0.0, 0.0]]))
    assert point == 0.25 and high is None  # draws of the two 0/0 primes alone say nothing, not 100 %

    # coverage: primes whose model agrees with chance 0.5, whose data agrees with chance 0.8
    rng = np.random.default_rng(7)
    covered = 0
    for trial in range(200):
        paired = np.stack([rng.random(30) < 0.5, rng.random(30) < 0.8], axis=1).astype(float)
        _, (low, high) = share_interval(paired, resamples=500, seed=trial)
        covered += low <= 0.625 <= high
    assert 0.80 <= covered / 200 <= 0.97, covered


def test_evaluate_prints_each_collections_shares_with_their_intervals(tiny_model, tiny_config, pattern_dir, capsys):
    from liveplay import cli
    code = cli.main(["evaluate", "--config", str(tiny_config), "--model", str(tiny_model), "--no-baselines",
                     "--steps", "32", "--generations", "1", str(pattern_dir)])  # all ten files: ten primes
    assert code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    shares = [i for i, line in enumerate(lines) if "model / the piece's own" in line]
    assert len(shares) == 2, out  # the collection and all
    for i in shares:  # under each collection's figures: model over data, with an interval around it
        figures = re.search(r"key agreement ([\d.]+) \| ([\d.]+) .*pitch-class cosine ([\d.]+) \| ([\d.]+)", lines[i - 1])
        found = re.search(r"key agreement (\d+) % \((\d+) % - (\d+) %\), pitch-class cosine (\d+) % \((\d+) % - (\d+) %\)",
                          lines[i])
        assert figures and found, (lines[i - 1], lines[i])
        key_m, key_d, cos_m, cos_d = map(float, figures.groups())
        key, key_lo, key_hi, cos, cos_lo, cos_hi = map(int, found.groups())
        assert abs(key - 100 * key_m / key_d) <= 1 and abs(cos - 100 * cos_m / cos_d) <= 1
        assert key_lo <= key <= key_hi and cos_lo <= cos <= cos_hi
