"""The listening figures on the tiny model: it continues its pattern in the prime's key."""

from liveplay.config import load_settings
from liveplay.model.bundle import load_bundle
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.music.midifile import read_tokens
from liveplay.offline.listening import listening


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
