"""How a model was trained (strategy, workers, devices, global batch, data): typed, with defaults."""

from pathlib import Path

import pytest

from liveplay.errors import BundleError
from liveplay.model.manifest import Training


def test_a_bundle_from_before_keeps_loading_with_one_device_defaults():
    t = Training.from_json({"epochs_run": 3}, Path("manifest.json"))
    assert (t.strategy, t.workers, t.devices, t.global_batch_size, t.data) == ("one-device", 1, (), 0, "midi")


def test_the_new_fields_round_trip_and_are_checked():
    t = Training(strategy="multi-worker", workers=2, devices=("GPU", "GPU"), global_batch_size=256, data="prepared")
    assert Training.from_json(t.to_json(), Path("m.json")) == t
    for key, bad in (("strategy", "ring"), ("workers", 0), ("devices", "GPU"), ("data", 3)):
        with pytest.raises(BundleError, match=f"training.{key}"):
            Training.from_json(dict(t.to_json(), **{key: bad}), Path("m.json"))
