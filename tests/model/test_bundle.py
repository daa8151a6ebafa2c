"""A bad bundle fails with a message that names the file and the problem; nothing is unpickled."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from liveplay import cli
from liveplay.model.bundle import FILES, Manifest, load_bundle
from liveplay.errors import BundleError

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "default" / "manifest.json"


@pytest.fixture
def copy(tiny_model, tmp_path):
    dest = tmp_path / "bundle"
    shutil.copytree(tiny_model, dest)
    return dest


def edit_manifest(path, change):
    m = json.loads((path / "manifest.json").read_text())
    change(m)
    (path / "manifest.json").write_text(json.dumps(m))


def test_loads(copy):
    b = load_bundle(copy)
    assert b.architecture.parameter_count() == sum(a.size for a in b.weights.values())


def test_missing_folder_and_manifest(tmp_path):
    with pytest.raises(BundleError, match="no such model bundle folder"):
        load_bundle(tmp_path / "nope")
    with pytest.raises(BundleError, match=r"manifest.json: missing"):
        load_bundle(tmp_path)


def test_wrong_format_version(copy):
    edit_manifest(copy, lambda m: m.update(format=99))
    with pytest.raises(BundleError, match=r"manifest.json: bundle format 99"):
        load_bundle(copy)


def test_shape_mismatch_names_array(copy):
    edit_manifest(copy, lambda m: m["architecture"].update(hidden=m["architecture"]["hidden"] + 1))
    with pytest.raises(BundleError, match=r"weights.npz: array 'embedding'|weights.npz: array 'lstm0"):
        load_bundle(copy)


def test_vocab_size_mismatch(copy):
    edit_manifest(copy, lambda m: m["architecture"].update(vocab_size=3))
    with pytest.raises(BundleError, match=r"vocab.json: holds \d+ tokens but the manifest says vocab_size 3"):
        load_bundle(copy)


def test_corrupt_and_truncated_weights(copy):
    data = (copy / "weights.npz").read_bytes()
    (copy / "weights.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=r"weights.npz: not a readable .npz"):
        load_bundle(copy)
    (copy / "weights.npz").write_bytes(b"garbage")
    with pytest.raises(BundleError, match=r"weights.npz"):
        load_bundle(copy)


def test_pickled_arrays_are_refused(copy):
    arrays = dict(np.load(copy / "weights.npz"))
    arrays["embedding"] = np.array([{"evil": 1}], dtype=object)
    np.savez(copy / "weights.npz", **arrays)
    with pytest.raises(BundleError, match=r"weights.npz: not a readable .npz.*pickle"):
        load_bundle(copy)


def test_nan_weights(copy):
    arrays = dict(np.load(copy / "weights.npz"))
    arrays["dense.bias"][0] = np.nan
    np.savez(copy / "weights.npz", **arrays)
    with pytest.raises(BundleError, match=r"array 'dense.bias' holds NaN"):
        load_bundle(copy)


def test_bad_vocab_json(copy):
    (copy / "vocab.json").write_text("{not json")
    with pytest.raises(BundleError, match=r"vocab.json: cannot read the vocabulary"):
        load_bundle(copy)


def test_cli_exits_2_naming_the_file(copy, tmp_path, caplog):
    (copy / "manifest.json").write_text("[]")
    code = cli.main(["generate", "--model", str(copy), "--out", str(tmp_path / "x.mid")])
    assert code == 2
    assert "manifest.json" in caplog.text


def test_the_shipped_manifest_reads_as_types_and_writes_back_byte_for_byte():
    text = SHIPPED.read_text(encoding="utf-8")
    manifest = Manifest.from_json(json.loads(text), SHIPPED)
    assert (manifest.kind, manifest.format, manifest.files) == ("single", 1, FILES)
    assert manifest.grid.steps_per_beat == 4 and manifest.architecture.vocab_size == 4098  # sixteenths
    assert (manifest.grid.max_notes, manifest.grid.voicing) == (3, "outer")  # the bass kept
    assert manifest.training.settings["augment"] == "normalise"  # the listening model: one key, a frame
    assert manifest.training.best_epoch == 11 and manifest.training.best["val_loss"] < 1.02
    assert manifest.training.fine_tuned_from.startswith("data/runs/normalised (grown from 1024 to 4096 chords")
    assert json.dumps(manifest.to_json(), indent=2) + "\n" == text


def test_the_trainer_writes_the_keys_it_always_wrote(tiny_model):
    shipped = json.loads(SHIPPED.read_text())
    written = json.loads((tiny_model / "manifest.json").read_text())
    assert list(written) == list(shipped)
    lineage = ("fine_tuned_from", "outside_vocabulary")  # written only for a bundle grown or fine-tuned
    assert list(written["training"]) == [k for k in shipped["training"] if k not in lineage]
    assert load_bundle(tiny_model, weights=False).manifest.training.command == "pytest tiny model"
