"""Offline generation: prime the engine, sample step by step, write a MIDI file."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from liveplay.bundle import Bundle
from liveplay.engine import Engine
from liveplay.midifile import read_tokens, write_tokens
from liveplay.sampler import Sampler
from liveplay.tokens import REST_ID, RawToken

log = logging.getLogger(__name__)


@dataclass
class Generation:
    ids: list[int]  # the continuation, without the prime
    tokens: list[RawToken]
    min_temperature: float
    max_temperature: float


def continue_ids(engine: Engine, sampler: Sampler, context: Sequence[int], steps: int) -> tuple[list[int], float, float]:
    """Sample ``steps`` ids after ``context`` (the engine is reset to it)."""
    history = [REST_ID] + list(context)  # the model's contexts start with a REST (train.with_start)
    engine.reset(history)
    out: list[int] = []
    lo = hi = sampler.temperature
    for _ in range(steps):
        token = sampler.sample(engine.distribution(), history)
        lo, hi = min(lo, sampler.temperature), max(hi, sampler.temperature)
        history.append(token)
        out.append(token)
        engine.push(token)
    return out, lo, hi


def prime_ids(bundle: Bundle, prime: str | Path | None, skip_drums: bool = True) -> list[int]:
    """A MIDI file as the model's token ids (chords outside the vocabulary mapped to the nearest)."""
    if prime is None:
        return []
    g = bundle.grid
    return bundle.vocab.encode(read_tokens(prime, g.steps_per_beat, g.max_notes, skip_drums))


def generate(bundle: Bundle, engine: Engine, sampler: Sampler, steps: int,
             prime: Sequence[int] = ()) -> Generation:
    ids, lo, hi = continue_ids(engine, sampler, prime, steps)
    return Generation(ids, bundle.vocab.decode(ids), lo, hi)


def write_generation(gen: Generation, bundle: Bundle, out: str | Path, tempo_bpm: float) -> Path:
    return write_tokens(gen.tokens, out, bundle.grid.steps_per_beat, tempo_bpm)
