import re
from pathlib import Path

import pytest
import yaml

from liveplay import cli
from liveplay.config import DEFAULT_CONFIG, _all_paths, Settings, load_settings
from liveplay.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path, text):
    p = tmp_path / "user.yaml"
    p.write_text(text)
    return p


def test_shipped_config_is_the_default_and_defines_every_key_with_a_comment():
    assert DEFAULT_CONFIG == (REPO / "config.yaml").resolve()
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"

    assert sorted(leaves(data)) == sorted(_all_paths(Settings))
    for line in DEFAULT_CONFIG.read_text().splitlines():
        if re.match(r"^\s*\w+:\s*\S", line):  # a key with a value
            assert "#" in line, f"setting without a comment: {line!r}"


def test_unknown_key_names_full_path_and_suggests_nearest(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "sampler:\n  temprature: 0.5\n"))
    assert err.value.problems == ["sampler.temprature: unknown key; did you mean 'sampler.temperature'?"]


def test_unknown_section_suggests(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "samplr:\n  temperature: 0.5\n"))
    assert "samplr: unknown key; did you mean 'sampler'?" in err.value.problems


def test_bad_type_and_range_name_the_key_and_what_is_allowed(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "grid:\n  max_notes: four\nsampler:\n  temperature: 500\n"))
    problems = "\n".join(err.value.problems)
    assert "grid.max_notes: must be a whole number (got 'four')" in problems
    assert "sampler.temperature: must be between 0.01 and 100.0 (got 500.0)" in problems


def test_all_errors_reported_at_once(tmp_path):
    text = "grid:\n  max_notes: 0\n  steps_per_beat: 5\nengine: gpu\nmodel:\n  layerz: 2\n"
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text))
    keys = sorted(p.split(":")[0] for p in err.value.problems)
    assert keys == ["engine", "grid.max_notes", "grid.steps_per_beat", "model.layerz"]


def test_a_duet_model_cannot_train_in_a_one_stream_key_frame(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "train:\n  kind: duet\n  augment: frame\n"))
    assert [p.split(":")[0] for p in err.value.problems] == ["train.augment"]
    assert load_settings(write(tmp_path, "train:\n  augment: frame\n")).train.augment == "frame"


def test_file_overrides_defaults_and_flag_overrides_file(tmp_path):
    path = write(tmp_path, "sampler:\n  temperature: 0.7\n")
    from_file = load_settings(path)
    assert from_file.sampler.temperature == 0.7
    assert from_file.sampler.heat == load_settings().sampler.heat  # untouched keys keep defaults
    assert from_file.override({"sampler.temperature": None}).sampler.temperature == 0.7  # flag not given
    assert from_file.override({"sampler.temperature": 1.5}).sampler.temperature == 1.5  # flag given


def test_override_values_are_validated():
    with pytest.raises(ConfigError) as err:
        load_settings().override({"sampler.temperature": -1.0})
    assert err.value.problems[0].startswith("sampler.temperature: must be between")


def test_relative_model_path_resolves_against_the_config_file(tmp_path):
    s = load_settings(write(tmp_path, "model:\n  path: mine\n"))
    assert s.model.path == str((tmp_path / "mine").resolve())
    assert load_settings().model.path == str(REPO / "models" / "default")


def test_cli_bad_config_exits_2_naming_the_key(tmp_path, capsys, caplog):
    path = write(tmp_path, "sampler:\n  temprature: 0.5\n")
    code = cli.main(["generate", "--config", str(path), "--out", str(tmp_path / "x.mid")])
    assert code == 2
    assert "sampler.temprature" in caplog.text


def test_not_yaml_and_not_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "grid: [unclosed\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"))
