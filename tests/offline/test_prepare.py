"""liveplay prepare: shards without pickle, the in-memory trainer's rules, incremental runs, bad files."""

import json
import os
from collections import Counter

import numpy as np
import pytest

from liveplay import cli
from liveplay.config import load_settings
from liveplay.errors import DataError, UsageError
from liveplay.music.context import with_start
from liveplay.music.midifile import load_token_files, write_tokens
from liveplay.music.tokens import Vocabulary, augment
from liveplay.offline import shards, stream
from liveplay.offline.dataset import split_files, windows_with_sources

from conftest import TINY_CONFIG, pattern_tokens

CONFIG = TINY_CONFIG + "prepare:\n  shard_windows: 40\n  jobs: 2\n"


@pytest.fixture()
def config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture()
def data(tmp_path, pattern_dir):
    folder = tmp_path / "data" / "songs"
    folder.mkdir(parents=True)
    for p in sorted(pattern_dir.glob("*.mid")):
        (folder / p.name).write_bytes(p.read_bytes())
    return folder


def test_shards_hold_the_in_memory_trainers_windows_and_vocabulary(data, config, tmp_path):
    settings = load_settings(config)
    out = tmp_path / "prep"
    manifest = shards.prepare([data], out, settings)
    t, g = settings.train, settings.grid
    # the in-memory trainer's rules, step by step (offline.memory)
    loaded = {str(p): toks for p, toks in load_token_files([data], g.steps_per_beat, g.max_notes)}
    split = split_files(list(loaded), t.validation_fraction, t.test_fraction, t.split_seed)
    assert manifest["split"] == split.as_dict()
    copies = [c for n in split.train for c in augment([loaded[n]], t.transpose)]
    vocab = Vocabulary.build(copies, g.vocab_size, g.max_notes)
    assert manifest["vocabulary"]["chords"] == [list(c) for c in vocab.chords]
    assert manifest["vocabulary"]["counts"] == vocab.counts
    x_mem, w_mem, _ = windows_with_sources([with_start(vocab.encode(s)) for s in copies], g.context_length,
                                           t.window_stride)
    parts = [shards.load_shard(out / "shards" / s["file"]) for s in manifest["shards"]["train"]]
    assert len(parts) >= 2  # small shards: two workers read their own
    x = np.concatenate([p["x"] for p in parts])
    w = np.concatenate([p["w"] for p in parts])
    assert x.dtype == np.int32 and w.dtype == np.uint8
    assert manifest["counts"]["windows"]["train"] == len(x) == len(x_mem)
    rows = lambda a, b: Counter(map(bytes, np.concatenate([a, b.astype(np.int32)], axis=1)))  # noqa: E731
    assert rows(x, w) == rows(x_mem, w_mem)  # the same windows and weights (order aside)
    with pytest.raises(ValueError):  # an object array would need pickle: refused
        np.savez(tmp_path / "obj.npz", a=np.array([{"a": 1}], dtype=object))
        shards.load_shard(tmp_path / "obj.npz")


def test_a_rerun_tokenises_only_new_and_changed_files(data, config, tmp_path, caplog):
    out = tmp_path / "prep"
    settings = load_settings(config)
    first = shards.prepare([data], out, settings)
    assert first["counts"]["tokenised"] == 10 and first["counts"]["unchanged"] == 0
    again = shards.prepare([data], out, settings)
    assert again["counts"]["tokenised"] == 0 and again["counts"]["unchanged"] == 10
    write_tokens(pattern_tokens(3, 30), data / "piece10.mid", 2, 120)
    changed = data / "piece03.mid"
    write_tokens(pattern_tokens(4, 20), changed, 2, 120)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    third = shards.prepare([data], out, settings)
    assert third["counts"]["tokenised"] == 2 and third["counts"]["unchanged"] == 9
    assert third["counts"]["files"] == 11 and len(list((out / "raw").glob("*.npz"))) == 11
    # the split is a function of the names and the seed alone
    t = settings.train
    assert third["split"] == split_files([f["name"] for f in third["files"]], t.validation_fraction,
                                         t.test_fraction, t.split_seed).as_dict()
    on_disk = json.loads((out / shards.MANIFEST).read_text())
    assert on_disk["format"] == shards.FORMAT_VERSION and on_disk["counts"] == third["counts"]
    # train.validation_min: more validation files from the folder, the same test files
    fourth = shards.prepare([data], out, settings.override({"train.validation_min": 3}))
    assert len(fourth["split"]["validation"]) == 3 > len(third["split"]["validation"])
    assert fourth["split"]["test"] == third["split"]["test"]


def test_a_corrupt_file_is_listed_with_its_reason(data, config, tmp_path, capsys):
    bad = data / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    out = tmp_path / "prep"
    code = cli.main(["prepare", str(data), "--out", str(out), "--config", str(config)])
    assert code == 0
    manifest = shards.read_manifest(out)
    assert [s["name"] for s in manifest["skipped"]] == [str(bad)]
    assert manifest["skipped"][0]["reason"]
    assert (manifest["counts"]["tokenised"], manifest["counts"]["skipped"], manifest["counts"]["files"]) == (10, 1, 10)
    assert f"skipped {bad}" in capsys.readouterr().out
    assert str(bad) not in [f["name"] for f in manifest["files"]]
    # known to be unreadable: not read again while it is the same file
    assert shards.prepare([data], out, load_settings(config))["counts"]["tokenised"] == 0


def test_nothing_readable_exits_2(tmp_path, config):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.mid").write_bytes(b"not midi")
    assert cli.main(["prepare", str(folder), "--out", str(tmp_path / "p"), "--config", str(config)]) == 2


def test_training_settings_must_match_the_prepared_ones(data, config, tmp_path):
    out = tmp_path / "prep"
    shards.prepare([data], out, load_settings(config))
    stream.open_prepared(out, load_settings(config))  # the same settings: fine
    other = load_settings(config).override({"train.window_stride": 4})
    with pytest.raises(DataError, match="window_stride"):
        stream.open_prepared(out, other)


def test_prepare_never_imports_tensorflow(data, config, tmp_path):
    import subprocess
    import sys

    code = ("import sys; from liveplay import cli; "
            f"code = cli.main(['prepare', {str(data)!r}, '--out', {str(tmp_path / 'p')!r}, '--config', {str(config)!r}]); "
            "assert code == 0, code; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_normalised_shards_hold_every_file_in_the_reference_key(data, config, tmp_path):
    """augment: normalise: the prepared vocabulary is the in-memory trainer's, one key's chords."""
    from liveplay.offline.memory import in_reference_key

    config.write_text(CONFIG.replace("transpose: [-1, 1]", "augment: normalise"))
    settings = load_settings(config)
    manifest = shards.prepare([data], tmp_path / "prep", settings)
    t, g = settings.train, settings.grid
    loaded = {str(p): in_reference_key(toks) for p, toks in load_token_files([data], g.steps_per_beat, g.max_notes)}
    split = split_files(list(loaded), t.validation_fraction, t.test_fraction, t.split_seed)
    vocab = Vocabulary.build([loaded[n] for n in split.train], g.vocab_size, g.max_notes)
    assert manifest["vocabulary"]["chords"] == [list(c) for c in vocab.chords]
    assert len(vocab.chords) == 4  # the pattern's four chords: its five keys became one


def test_a_folder_prepared_before_voicings_reads_as_keeping_the_highest_notes(tmp_path):
    from liveplay.offline.shards import MANIFEST, FORMAT_VERSION, read_manifest, vocabulary

    (tmp_path / MANIFEST).write_text(json.dumps({
        "format": FORMAT_VERSION, "settings": {"steps_per_beat": 2, "max_notes": 4},
        "grid": {"steps_per_beat": 2, "max_notes": 4, "context_length": 32},
        "vocabulary": {"chords": [[60, 64, 67]], "counts": [3]}}))
    data = read_manifest(tmp_path)
    assert data["settings"]["voicing"] == data["grid"]["voicing"] == "highest"  # not a settings change
    assert data["settings"]["validation_min"] == 0  # nor is a folder prepared before train.validation_min
    assert vocabulary(data).voicing == "highest"


def test_a_prepared_folder_refuses_what_only_the_in_memory_trainer_does(data, config, tmp_path):
    from liveplay.offline.train import train

    out = tmp_path / "prep"
    shards.prepare([data], out, load_settings(config))
    twice = load_settings(config).override({"train.folder_weights": ["songs=2"]})
    with pytest.raises(UsageError, match="above 1"):
        train([out], tmp_path / "model", twice)
    with pytest.raises(UsageError, match="--split-from"):
        train([out], tmp_path / "model", load_settings(config), split_from=tmp_path / "any")
    framed = load_settings(config).override({"train.augment": "frame"})  # a key per step: not a chord table's
    with pytest.raises(UsageError, match="train.augment: frame"):
        shards.prepare([data], tmp_path / "framed", framed)
    assert not (tmp_path / "framed").exists()  # refused before anything is written
