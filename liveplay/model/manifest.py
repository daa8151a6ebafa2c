"""The bundle's manifest as types: what a model is and how it was trained, checked value by value.

``Manifest.from_json`` checks every value's type and range before anything is built from it
(an architecture of 10^9 units or a grid of 0 steps a beat must fail here, naming the key, not
later as a ZeroDivisionError or a 1.9 TiB allocation). The ranges are the config schema's
(``config.GridSettings``, ``config.ModelSettings``): one source of truth for what a model may be.
Only ``bundle.py`` reads and writes the file; everything else reads these fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from liveplay.config import GridSettings, ModelSettings

FORMAT_VERSION = 1
KINDS = ("single",)  # the kinds of model a bundle holds ("single": one token stream)


class ManifestError(ValueError):
    """A value that does not fit; the message starts with its dotted key."""


def _check(schema, name: str) -> Callable[[Any], str | None]:
    return next(f.metadata["check"] for f in dataclasses.fields(schema) if f.name == name)


def _int(data: dict, section: str, key: str, check: Callable[[Any], str | None] | None) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ManifestError(f"{section}.{key}: must be a whole number (got {_short(value)})")
    problem = check(value) if check else None
    if problem:
        raise ManifestError(f"{section}.{key}: {problem} (got {value})")
    return value


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Architecture:
    vocab_size: int
    embedding: int
    hidden: int
    layers: int
    dropout: float = 0.0

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        v, e, h = self.vocab_size, self.embedding, self.hidden
        shapes = {"embedding": (v, e)}
        for layer in range(self.layers):
            shapes[f"lstm{layer}.kernel"] = (e if layer == 0 else h, 4 * h)
            shapes[f"lstm{layer}.recurrent"] = (h, 4 * h)
            shapes[f"lstm{layer}.bias"] = (4 * h,)
        shapes["dense.kernel"] = (h, v)
        shapes["dense.bias"] = (v,)
        return shapes

    def parameter_count(self) -> int:
        return int(sum(np.prod(s) for s in self.weight_shapes().values()))

    @classmethod
    def from_json(cls, data: Any) -> "Architecture":
        if not isinstance(data, dict):
            raise ManifestError("architecture: must be a section (a JSON object)")
        vocab = _int(data, "architecture", "vocab_size", lambda v: None if 3 <= v <= 100_002 else
                     "must be between 3 and 100002 (REST, HOLD and the chords)")
        sizes = {k: _int(data, "architecture", k, _check(ModelSettings, k)) for k in ("embedding", "hidden", "layers")}
        dropout = data.get("dropout", 0.0)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout <= 0.9:
            raise ManifestError(f"architecture.dropout: must be a number between 0 and 0.9 (got {_short(dropout)})")
        return cls(vocab, sizes["embedding"], sizes["hidden"], sizes["layers"], float(dropout))


@dataclass(frozen=True)
class Grid:
    steps_per_beat: int
    max_notes: int
    context_length: int

    @classmethod
    def from_json(cls, data: Any) -> "Grid":
        if not isinstance(data, dict):
            raise ManifestError("grid: must be a section (a JSON object)")
        return cls(*(_int(data, "grid", k, _check(GridSettings, k))
                     for k in ("steps_per_beat", "max_notes", "context_length")))


@dataclass(frozen=True)
class FileSplit:
    train: tuple[str, ...] = ()
    validation: tuple[str, ...] = ()
    test: tuple[str, ...] = ()

    def of(self, split: str) -> tuple[str, ...]:
        return getattr(self, split)

    def as_dict(self) -> dict:
        return {"train": list(self.train), "validation": list(self.validation), "test": list(self.test)}


@dataclass(frozen=True)
class Training:
    """How the model was trained: the file split, the augmentation, the run's figures (``facts``)."""

    files: FileSplit = FileSplit()
    transpose: tuple[int, ...] = ()
    epochs_run: int = 0
    best_epoch: int = 0
    wall_time_s: float = 0.0
    facts: dict = field(default_factory=dict)  # command, settings, windows, tokens, best, ...

    def to_json(self) -> dict:
        return {**self.facts, "files": self.files.as_dict(), "transpose": list(self.transpose),
                "epochs_run": self.epochs_run, "best_epoch": self.best_epoch, "wall_time_s": self.wall_time_s}

    @classmethod
    def from_json(cls, data: Any) -> "Training":
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ManifestError("training: must be a section (a JSON object)")
        files = data.get("files", {})
        if not isinstance(files, dict):
            raise ManifestError("training.files: must be a section (a JSON object)")
        split = {}
        for name in ("train", "validation", "test"):
            names = files.get(name, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ManifestError(f"training.files.{name}: must be a list of file names")
            split[name] = tuple(names)
        transpose = data.get("transpose", [])
        if not isinstance(transpose, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                      for s in transpose):
            raise ManifestError(f"training.transpose: must be a list of whole numbers (got {_short(transpose)})")
        counts = {k: data.get(k, 0) for k in ("epochs_run", "best_epoch")}
        for k, v in counts.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ManifestError(f"training.{k}: must be a whole number >= 0 (got {_short(v)})")
        wall = data.get("wall_time_s", 0.0)
        if isinstance(wall, bool) or not isinstance(wall, (int, float)):
            raise ManifestError(f"training.wall_time_s: must be a number (got {_short(wall)})")
        facts = {k: v for k, v in data.items() if k not in ("files", "transpose", "epochs_run", "best_epoch",
                                                              "wall_time_s")}
        return cls(FileSplit(**split), tuple(transpose), counts["epochs_run"], counts["best_epoch"], float(wall), facts)


@dataclass(frozen=True)
class Manifest:
    name: str
    architecture: Architecture
    grid: Grid
    training: Training = Training()
    kind: str = "single"
    created: str = ""

    def to_json(self) -> dict:
        return {"format": FORMAT_VERSION, "name": self.name, "kind": self.kind, "created": self.created,
                "architecture": dataclasses.asdict(self.architecture), "grid": dataclasses.asdict(self.grid),
                "training": self.training.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> "Manifest":
        """Every value checked; ManifestError names the first key that does not fit."""
        if not isinstance(data, dict):
            raise ManifestError("must hold a JSON object")
        version = data.get("format")
        if version != FORMAT_VERSION:
            raise ManifestError(f"format: bundle format {_short(version)}; this liveplay reads format {FORMAT_VERSION}")
        kind = data.get("kind", "single")
        if kind not in KINDS:
            raise ManifestError(f"kind: must be one of {', '.join(KINDS)} (got {_short(kind)})")
        for key in ("name", "created"):
            if not isinstance(data.get(key, ""), str):
                raise ManifestError(f"{key}: must be a string (got {_short(data.get(key))})")
        return cls(data.get("name", ""), Architecture.from_json(data.get("architecture")),
                   Grid.from_json(data.get("grid")), Training.from_json(data.get("training")), kind,
                   data.get("created", ""))
