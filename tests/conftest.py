"""Shared fixtures: synthetic MIDI data and a tiny model really trained by liveplay's trainer."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from liveplay.config import load_settings
from liveplay.music.midifile import write_tokens
from liveplay.music.tokens import HOLD, REST

# One bar (8 eighth-note steps) of a deterministic pattern: four distinct chords split by HOLD
# and REST, so no tail of 2, 3 or 4 tokens repeats the one before it (no heating).
PATTERN = [(60, 64, 67), HOLD, (76,), REST, (67, 71, 74), HOLD, (65, 69, 72), REST]
TINY_CONFIG = """
grid:
  context_length: 32
  vocab_size: 64
model:
  duet: null
  embedding: 16
  hidden: 48
  layers: 2
  dropout: 0.0
train:
  epochs: 40
  batch_size: 16
  learning_rate: 0.01
  window_stride: 8
  validation_fraction: 0.2
  test_fraction: 0.1
  transpose: [-1, 1]
  patience: 6
  seed: 3
sampler:
  seed: 7
  min_temperature: 0.2
engine: numpy
"""


# Duets: the musician plays one of four notes on every beat (seeded, so no part predicts itself);
# the accompaniment answers each on the off-beat with the chord that note asks for. liveplay's token
# at step k+1 follows from the musician's at step k, which only a model that reads both can know.
ANSWER = {72: (48, 52, 55), 76: (45, 48, 52), 79: (43, 47, 50), 81: (41, 45, 48)}
# the tests' tiny model, as a duet, sampled cold
DUET_CONFIG = TINY_CONFIG.replace("train:\n", "train:\n  kind: duet\n").replace(
    "sampler:\n", "sampler:\n  temperature: 0.2\n")


def duet_notes(seed: int, beats: int = 48, lead_in: float = 0.0) -> list:
    """One duet (music.midifile.Note): the melody on channel 0, its answers on channel 1, after
    ``lead_in`` beats of silence."""
    import numpy as np

    from liveplay.music.midifile import Note

    rng = np.random.default_rng(seed)
    notes = []
    for b, pitch in enumerate(rng.choice(sorted(ANSWER), beats)):
        at = b + lead_in
        notes.append(Note(int(pitch), at, at + 0.5, 80, 0))
        notes += [Note(p, at + 0.5, at + 1, 80, 1) for p in ANSWER[int(pitch)]]
    return notes


def write_duets(folder: Path, n: int = 10, lead_in: float = 0.0) -> Path:
    """``n`` two-part MIDI files of ``duet_notes`` (seeds 0..n-1) in ``folder``, file i after
    ``i * lead_in`` beats of silence."""
    from liveplay.music.midifile import notes_to_midi

    for i in range(n):
        notes_to_midi(duet_notes(i, lead_in=i * lead_in), 120).save(folder / f"duet{i:02d}.mid")
    return folder


def shifted(tokens, semitones):
    return [t if t in (HOLD, REST) else tuple(p + semitones for p in t) for t in tokens]


def pattern_tokens(semitones: int, bars: int) -> list:
    return shifted(PATTERN, semitones) * bars


@pytest.fixture(scope="session")
def pattern_dir(tmp_path_factory) -> Path:
    """Ten MIDI files of the pattern, each in its own key, 24 bars long."""
    folder = tmp_path_factory.mktemp("pattern")
    for i in range(10):
        write_tokens(pattern_tokens(i % 5 - 2, 24), folder / f"piece{i:02d}.mid", 2, 120)
    return folder


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "tiny.yaml"
    path.write_text(TINY_CONFIG)
    return path


@pytest.fixture(scope="session")
def tiny_model(pattern_dir, tiny_config, tmp_path_factory) -> Path:
    """A bundle trained by the real trainer on the pattern files (once per session)."""
    from liveplay.offline.train import train

    logging.getLogger().setLevel(logging.INFO)
    out = tmp_path_factory.mktemp("models") / "tiny"
    train([pattern_dir], out, load_settings(tiny_config), command="pytest tiny model")
    return out


@pytest.fixture(scope="module")
def module_jack_server(request, tmp_path_factory):
    """A private ``jackd -d dummy -p 256`` for one test module, synchronous (-S) where the module
    sets ``JACK_SYNC = True`` (tests/jacktools.py says when)."""
    from jacktools import JackServer

    server = JackServer(tmp_path_factory.mktemp("jack"), sync=getattr(request.module, "JACK_SYNC", False))
    server.activate()
    yield server
    server.stop()


@pytest.fixture
def jack_server(module_jack_server):
    """The module's server, answering when the test starts. A server a test before left dead or
    wedged (jackd's own failing: a synchronous server can stop opening clients after a client
    died mid-cycle, tests/jacktools.py) is started again, with a warning that carries its log,
    so one test's wreck is not the next test's failure."""
    server = module_jack_server
    if not server.answers():
        warnings.warn(f"the test JACK server stopped answering; started again. Its log ended:\n{server.log_tail()}")
        server.stop(keep_log=True)
        server.start()
    server.activate()
    return server


class FixedEngine:
    """A stand-in for an inner engine (the ``Engine`` contract's methods) whose distribution is
    ``probs``, normalised, whatever it heard; like a real one it refuses ids outside its vocabulary."""

    name = "fixed"

    def __init__(self, probs, context_length: int = 16):
        import numpy as np

        self.p = np.asarray(probs, dtype=np.float64) / np.sum(probs)
        self.vocab_size, self.context_length = len(self.p), context_length

    def reset(self, tokens=()):
        pass

    def push(self, token):
        if not 0 <= token < self.vocab_size:
            raise ValueError("outside the vocabulary")

    def distribution(self):
        return self.p

    def prepare(self):
        pass

    def close(self):
        pass
