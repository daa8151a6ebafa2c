"""A key-normalised model on a real JACK server: primed in F#, it plays in F# (model/keyframe.py)."""

import signal
import time

import pytest

from jacktools import Daemon, Recorder

from conftest import PATTERN, pattern_tokens

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def normalised_model(tiny_config, pattern_dir, tmp_path_factory):
    from liveplay.config import load_settings
    from liveplay.offline.train import train

    folder = tmp_path_factory.mktemp("normalised")
    config = folder / "normalise.yaml"
    config.write_text(tiny_config.read_text().replace("transpose: [-1, 1]", "augment: normalise"))
    train([pattern_dir], folder / "model", load_settings(config))
    return config, folder / "model"


def test_primed_in_a_key_it_never_heard_it_plays_in_that_key(jack_server, normalised_model, tmp_path):
    from liveplay.music.midifile import write_tokens

    config, model = normalised_model
    prime = write_tokens(pattern_tokens(6, 3), tmp_path / "f-sharp.mid", 2, 120)  # the data: Bb..D, never F#
    d = Daemon(jack_server, ["--config", str(config), "--model", str(model), "--mode", "solo", "--prime", str(prime),
                             "--temperature", "0.2", "--seed", "3", "--tempo", "180"], tmp_path / "daemon.log")
    rec = Recorder(d.out_port)
    try:
        time.sleep(6)
        code = d.stop(signal.SIGTERM)
        time.sleep(0.3)
    finally:
        rec.close()
        d.stop()
    assert code == 0, d.log()
    assert "in a key frame" in d.log()  # the engine line names the frame
    f_sharp = {p + 6 for t in PATTERN if isinstance(t, tuple) for p in t}
    played = [e.message.note for e in rec.note_ons()]
    assert len(played) >= 12, d.log()[-2000:]
    assert sum(p in f_sharp for p in played) >= 0.9 * len(played), played  # the pattern's pitches, in F#
    assert rec.sounding() == set()
