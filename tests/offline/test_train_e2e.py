"""End to end: the real trainer learns a deterministic pattern; generate and evaluate use it."""

import json
from pathlib import Path

import numpy as np

from liveplay import cli
from liveplay.model.bundle import load_bundle
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.offline.evaluate import score_engine
from liveplay.music.midifile import read_tokens
from liveplay.music.context import with_start

from conftest import PATTERN, pattern_tokens, shifted


def test_tiny_model_learns_the_pattern(tiny_model, pattern_dir):
    b = load_bundle(tiny_model)
    files = b.manifest.training.files.as_dict()
    assert files["validation"] and files["test"] and files["train"]
    assert not set(files["train"]) & (set(files["validation"]) | set(files["test"]))
    # accuracy on the validation files, scored through the exact engine (the daemon's path)
    seqs = [with_start(b.vocab.encode(read_tokens(f, 2, b.grid.max_notes))) for f in files["validation"]]
    scores = score_engine(NumpyEngine(b), seqs)
    assert scores.accuracy >= 0.95, scores
    assert b.manifest.training.best["val_accuracy"] >= 0.95


def test_bundle_has_every_file(tiny_model):
    names = {p.name for p in tiny_model.iterdir()}
    assert {"manifest.json", "vocab.json", "weights.npz", "model.keras", "history.json", "curves.png"} <= names
    history = json.loads((tiny_model / "history.json").read_text())
    assert history and {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(history[0])
    assert (tiny_model / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_generate_continues_the_pattern_at_low_temperature(tiny_model, tiny_config, tmp_path, capsys):
    from liveplay.music.midifile import write_tokens

    prime = write_tokens(pattern_tokens(1, 3), tmp_path / "prime.mid", 2, 120)
    out = tmp_path / "out.mid"
    code = cli.main(["generate", "--config", str(tiny_config), "--model", str(tiny_model), "--out", str(out),
                     "--prime", str(prime), "--steps", "32", "--temperature", "0.2", "--seed", "4"])
    assert code == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "temperature 0.200..0.200" in printed
    got = read_tokens(out, 2, 4)
    expected = shifted(PATTERN, 1) * 4
    same = sum(a == b for a, b in zip(got, expected))
    assert len(got) == 32 and same >= 30, (got, expected)


def test_resume_keeps_split_and_vocabulary(tiny_model, pattern_dir, tiny_config, tmp_path):
    import shutil

    from liveplay.config import load_settings
    from liveplay.offline.train import train

    copy = tmp_path / "resumed"
    shutil.copytree(tiny_model, copy)
    before = load_bundle(copy)
    manifest = train([pattern_dir], copy, load_settings(tiny_config), epochs=1)
    after = load_bundle(copy)
    assert manifest.training.files == before.manifest.training.files
    assert after.vocab.chords == before.vocab.chords
    assert manifest.training.epochs_run == before.manifest.training.epochs_run + 1
    history = json.loads((copy / "history.json").read_text())
    assert len(history) == manifest.training.epochs_run
    # the bundle keeps the best epoch over the whole history, never a worse epoch of the resumed run
    best = min(history, key=lambda row: row["val_loss"])
    assert manifest.training.best_epoch == best["epoch"]
    assert manifest.training.best["val_loss"] == best["val_loss"] <= before.manifest.training.best["val_loss"]
    if best["epoch"] <= before.manifest.training.epochs_run:
        assert np.array_equal(after.weights["dense.bias"], before.weights["dense.bias"])


def test_resuming_in_another_key_frame_sets_a_new_bar_and_keeps_the_split(tiny_model, pattern_dir, tiny_config,
                                                                             tmp_path, caplog):
    """A resumed bundle's best loss was measured on windows in another frame: not a bar to beat.
    Its split is kept whatever train.validation_min says, and the log says so."""
    import shutil

    from liveplay.config import load_settings
    from liveplay.offline.train import train

    copy = tmp_path / "reframed"
    shutil.copytree(tiny_model, copy)
    before = load_bundle(copy).manifest.training
    assert before.settings["augment"] == "all"
    settings = load_settings(tiny_config).override({"train.augment": "normalise", "train.validation_min": 3})
    manifest = train([pattern_dir], copy, settings, epochs=1)
    assert manifest.training.best_epoch == before.epochs_run + 1  # the one epoch in the new frame
    assert manifest.training.files == before.files
    assert "its best epoch is not carried over" in caplog.text
    assert "train.validation_min 3 does not apply" in caplog.text


def test_evaluate_reports_model_and_baselines(tiny_model, tiny_config, pattern_dir, capsys):
    b = load_bundle(tiny_model)
    code = cli.main(["evaluate", "--config", str(tiny_config), "--model", str(tiny_model), "--json",
                     "--train-data", str(pattern_dir), "--steps", "64", "--generations", "2", "--split", "test"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["baselines"]) == {"unigram", "2-gram", "3-gram", "4-gram", "ppm-8"}
    model, unigram = report["model_scores"], report["baselines"]["unigram"]
    assert model["accuracy"] >= 0.95 and model["perplexity"] < unigram["perplexity"]
    assert report["files"] == len(b.manifest.training.files.test)
    assert report["vocabulary_coverage"]["chords"] == 1.0
    gen = report["generation"]["median"]
    assert 0 < gen["distinct_4"] <= 1 and gen["longest_copy"] >= 4
    assert np.isclose(report["training_data"]["rest_share"], 2 / 8, atol=0.02)
    # the variable-order baseline learns the deterministic pattern as well; chords are 3 of 4 onsets
    assert report["baselines"]["ppm-8"]["perplexity"] < report["baselines"]["2-gram"]["perplexity"]
    assert model["chord_predictions"] > 0 and model["chord_top5"] >= 0.95
    assert list(report["by_collection"]) == [pattern_dir.name]
    assert report["by_collection"][pattern_dir.name]["model"]["predictions"] == model["predictions"]
    listening = report["listening"]["all"]
    assert listening["pieces"] == report["files"] and listening["key_agreement_data"] == 1.0
    assert listening["answers"] == 4  # continuations a prime, by default


def test_a_killed_run_leaves_its_best_epoch_and_resumes(pattern_dir, tiny_config, tmp_path):
    """SIGKILL after the first checkpoint: the bundle loads, and `train` on it goes on from there."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "liveplay", "train", str(pattern_dir), "--out", str(out),
                             "--config", str(tiny_config), "--epochs", "200"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "manifest.json").exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        time.sleep(1.0)  # let it be mid-way through a later epoch, or a later checkpoint
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    left = load_bundle(out)  # whole: no torn file whenever the kill came
    assert left.manifest.training.epochs_run >= 1
    # the manifest is written last: the history may be one checkpoint ahead of it, never behind
    history = json.loads((out / "history.json").read_text())
    assert len(history) >= left.manifest.training.epochs_run

    from liveplay.config import load_settings
    from liveplay.offline.train import train

    manifest = train([pattern_dir], out, load_settings(tiny_config), epochs=1)
    assert manifest.training.epochs_run == left.manifest.training.epochs_run + 1
    assert manifest.training.files == left.manifest.training.files
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]  # a torn write the kill left is replaced
    assert len(json.loads((out / "history.json").read_text())) == manifest.training.epochs_run


def test_evaluate_leaves_out_a_split_file_no_longer_on_disk_and_names_it(tiny_model, tiny_config, tmp_path,
                                                                          capsys, caplog):
    """A data folder exported again since the training (pieces renamed) still evaluates the rest."""
    import shutil

    bundle_dir = tmp_path / "model"
    shutil.copytree(tiny_model, bundle_dir)
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    listed = manifest["training"]["files"]["test"]
    manifest["training"]["files"]["test"] = [*listed, str(tmp_path / "gone.mid")]
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest))
    code = cli.main(["evaluate", "--config", str(tiny_config), "--model", str(bundle_dir), "--json", "--steps", "32",
                     "--split", "test", "--no-baselines", "--no-listening"])
    assert code == 0 and json.loads(capsys.readouterr().out)["files"] == len(listed)
    assert "1 of the test split's" in caplog.text and "gone.mid" in caplog.text


def test_evaluate_moves_the_pieces_and_can_skip_the_baselines(tiny_model, tiny_config, capsys):
    """--transpose scores the pieces in another key; --no-baselines fits none."""
    def run(*extra):
        code = cli.main(["evaluate", "--config", str(tiny_config), "--model", str(tiny_model), "--json",
                         "--steps", "32", "--split", "test", "--no-baselines", *extra])
        assert code == 0
        return json.loads(capsys.readouterr().out)

    near, far = run("--transpose", "1"), run("--transpose", "6")
    assert near["baselines"] == {} and "training_data" not in near and near["transpose"] == 1
    # trained in keys -3..+3: one semitone up is still known ground, six is not (chords outside the vocabulary)
    assert near["vocabulary_coverage"]["chords"] == 1.0 and near["model_scores"]["accuracy"] >= 0.95
    assert far["vocabulary_coverage"]["chords"] < 1.0
    assert far["model_scores"]["accuracy"] < near["model_scores"]["accuracy"]


def test_a_new_run_keeps_an_earlier_models_split_for_the_files_it_names(pattern_dir, tiny_config, tmp_path):
    """--split-from: a corpus with files gone and files added; the files left keep their side."""
    import shutil

    from liveplay.config import load_settings
    from liveplay.music.midifile import write_tokens
    from liveplay.offline.dataset import split_files

    data = tmp_path / "data"
    shutil.copytree(pattern_dir, data)
    args = ["--config", str(tiny_config), "--epochs", "1"]
    assert cli.main(["train", str(data), "--out", str(tmp_path / "old"), *args]) == 0
    old = load_bundle(tmp_path / "old").manifest.training.files
    for name in (old.train[0], old.test[0]):
        Path(name).unlink()
    for i in range(6):
        write_tokens(pattern_tokens(i - 3, 20), data / f"added{i}.mid", 2, 120)
    side = {name: k for k, names in (("train", old.train), ("validation", old.validation), ("test", old.test))
            for name in names}
    files = sorted(str(p) for p in data.glob("*.mid"))
    t = load_settings(tiny_config).train
    # without it, the changed file list is split afresh and files change sides (what it is for)
    fresh = split_files(files, t.validation_fraction, t.test_fraction, t.split_seed)
    assert [n for k, names in fresh.as_dict().items() for n in names if n in side and side[n] != k]

    assert cli.main(["train", str(data), "--out", str(tmp_path / "new"), *args, "--split-from",
                     str(tmp_path / "old")]) == 0
    got = load_bundle(tmp_path / "new").manifest.training.files
    where = {name: k for k, names in (("train", got.train), ("validation", got.validation), ("test", got.test))
             for name in names}
    assert sorted(where) == files  # every file on disk once, the gone ones nowhere
    assert all(where[n] == side[n] for n in files if n in side)
    added = [where[n] for n in files if n not in side]
    assert len(added) == 6 and "train" in added
    assert set(added) - {"train"}, "the added files get a split of their own, held-out files too"
