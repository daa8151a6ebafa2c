"""Fine-tune on your own playing: `liveplay train FILES --from BUNDLE --out DIR`."""

import json

from liveplay import cli
from liveplay.model.bundle import load_bundle
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.music.context import with_start
from liveplay.music.midifile import read_tokens, write_tokens
from liveplay.music.tokens import HOLD, REST
from liveplay.offline.evaluate import score_engine

from conftest import shifted

# a player with a habit of their own: the tiny model's chords in another order and rhythm, and
# one chord (D minor in first inversion) the base vocabulary does not hold
PLAYER = [(65, 69, 72), REST, (60, 64, 67), (60, 64, 67), (53, 62, 65), HOLD, (67, 71, 74), REST]


def test_fine_tuning_on_a_players_files_beats_the_base_on_their_held_out_files(tiny_model, tiny_config, tmp_path):
    mine = tmp_path / "my-playing"
    mine.mkdir()
    for i in range(8):
        write_tokens(shifted(PLAYER, i % 3 - 1) * 12, mine / f"take{i}.mid", 2, 120)
    out = tmp_path / "mine"
    code = cli.main(["train", str(mine), "--from", str(tiny_model), "--out", str(out), "--config", str(tiny_config),
                     "--epochs", "8"])
    assert code == 0
    base, tuned = load_bundle(tiny_model), load_bundle(out)
    assert tuned.vocab.chords == base.vocab.chords  # the base's vocabulary, kept
    training = json.loads((out / "manifest.json").read_text())["training"]
    assert training["fine_tuned_from"] == str(tiny_model)
    assert training["outside_vocabulary"]["train"] > 0  # D minor (53, 62, 65) was mapped
    held_out = training["files"]["test"] + training["files"]["validation"]
    assert held_out
    scores = {}
    for name, bundle in (("base", base), ("tuned", tuned)):
        seqs = [with_start(bundle.vocab.encode(read_tokens(f, 2, 4))) for f in held_out]
        scores[name] = score_engine(NumpyEngine(bundle), seqs)
    print("fine-tune figures:", scores)
    assert scores["tuned"].perplexity < 0.5 * scores["base"].perplexity, scores
    assert scores["tuned"].accuracy > scores["base"].accuracy + 0.2, scores
