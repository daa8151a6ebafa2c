"""The bundle's manifest as types: what a model is and how it was trained, checked value by value.

``Manifest.from_json(data, path)`` checks every value's type and range before anything is built
from it (an architecture of 10^9 units or a grid of 0 steps a beat must fail here, naming the file
and the key, not later as a ZeroDivisionError or a 1.9 TiB allocation). The ranges are the config
schema's (``config.GridSettings``, ``config.ModelSettings``): one source of truth for what a model
may be. ``to_json`` writes the keys the trainer has always written, so older bundles (the shipped
model's among them) load unchanged and new ones read the same. Only ``bundle.py`` reads and writes
the file; everything else reads these fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from liveplay.config import GridSettings, ModelSettings
from liveplay.errors import BundleError, short

FORMAT_VERSION = 1
KINDS = ("single", "duet")  # the kinds of model a bundle holds ("single": one token stream; "duet":
# liveplay's part and the musician's interleaved step by step, music.duet)
STRATEGIES = ("one-device", "mirrored", "multi-worker")  # how a model was trained (Training.strategy)
MAX_VOCAB_SIZE = 100_002  # REST, HOLD and config's largest grid.vocab_size of chords


def _check(schema, name: str) -> Callable[[Any], str | None]:
    """The config schema's range check of ``schema.name`` (one source of truth)."""
    return next(f.metadata["check"] for f in dataclasses.fields(schema) if f.name == name)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # true is an int to Python


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _section(data: Any, key: str, path: Path) -> dict:
    if not isinstance(data, dict):
        raise BundleError(path, f"{key}: must be a section (a JSON object), not {short(data)}")
    return data


def _int(data: dict, key: str, path: Path, check: Callable[[Any], str | None] | None = None,
         default: int | None = None) -> int:
    """``data[key]`` (dotted ``key``'s last part) as a whole number that passes ``check``."""
    value = data.get(key.rsplit(".", 1)[-1], default)
    if not _is_int(value):
        raise BundleError(path, f"{key}: must be a whole number (got {short(value)})")
    problem = check(value) if check else None
    if problem:
        raise BundleError(path, f"{key}: {problem} (got {value})")
    return value


def _optional_str(data: dict, key: str, path: Path) -> str | None:
    value = data.get(key.rsplit(".", 1)[-1])
    if value is not None and not isinstance(value, str):
        raise BundleError(path, f"{key}: must be a string (got {short(value)})")
    return value


def _choice(data: dict, key: str, path: Path, choices: tuple[str, ...], default: str) -> str:
    value = data.get(key.rsplit(".", 1)[-1], default)
    if value not in choices:
        raise BundleError(path, f"{key}: must be one of {', '.join(choices)} (got {short(value)})")
    return value


def _names(data: dict, key: str, path: Path) -> tuple[str, ...]:
    value = data.get(key.rsplit(".", 1)[-1], [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BundleError(path, f"{key}: must be a list of strings (got {short(value)})")
    return tuple(value)


def _figures(data: dict, key: str, path: Path, depth: int = 1, optional: bool = False) -> dict | None:
    """A mapping of names to numbers (``depth`` 2: to mappings of names to numbers)."""
    value = data.get(key.rsplit(".", 1)[-1])
    if value is None and optional:
        return None
    value = {} if value is None else _section(value, key, path)
    for name, inner in value.items():
        if depth > 1:
            _figures(value, f"{key}.{name}", path, depth - 1)
        elif not _is_number(inner):
            raise BundleError(path, f"{key}.{name}: must be a number (got {short(inner)})")
    return value


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
    def from_json(cls, data: Any, path: Path) -> "Architecture":
        data = _section(data, "architecture", path)
        vocab = _int(data, "architecture.vocab_size", path, lambda v: None if 3 <= v <= MAX_VOCAB_SIZE else
                     f"must be between 3 and {MAX_VOCAB_SIZE} (REST, HOLD and the chords)")
        sizes = [_int(data, f"architecture.{k}", path, _check(ModelSettings, k)) for k in ("embedding", "hidden",
                                                                                         "layers")]
        dropout = data.get("dropout", 0.0)
        problem = _check(ModelSettings, "dropout")(dropout) if _is_number(dropout) else "must be a number"
        if problem:
            raise BundleError(path, f"architecture.dropout: {problem} (got {short(dropout)})")
        return cls(vocab, *sizes, float(dropout))


@dataclass(frozen=True)
class Grid:
    steps_per_beat: int
    max_notes: int
    context_length: int
    voicing: str = "highest"  # which notes of a wider chord are kept (music.tokens.VOICINGS)

    @classmethod
    def from_json(cls, data: Any, path: Path) -> "Grid":
        data = _section(data, "grid", path)
        voicing = data.get("voicing", "highest")  # bundles before voicings kept the highest notes
        problem = _check(GridSettings, "voicing")(voicing)
        if problem:
            raise BundleError(path, f"grid.voicing: {problem} (got {short(voicing)})")
        return cls(*(_int(data, f"grid.{k}", path, _check(GridSettings, k))
                     for k in ("steps_per_beat", "max_notes", "context_length")), voicing)


@dataclass(frozen=True)
class FileSplit:
    train: tuple[str, ...] = ()
    validation: tuple[str, ...] = ()
    test: tuple[str, ...] = ()

    def of(self, split: str) -> tuple[str, ...]:
        return getattr(self, split)

    def as_dict(self) -> dict:
        return {"train": list(self.train), "validation": list(self.validation), "test": list(self.test)}

    @classmethod
    def from_json(cls, data: Any, path: Path) -> "FileSplit":
        data = _section(data, "training.files", path)
        split = {}
        for name in ("train", "validation", "test"):
            names = data.get(name, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise BundleError(path, f"training.files.{name}: must be a list of file names")
            split[name] = tuple(names)
        return cls(**split)


@dataclass(frozen=True)
class Training:
    """How the model was trained: the file split, the augmentation and the run's figures."""

    command: str | None = None  # the command line that trained it
    files: FileSplit = FileSplit()
    transpose: tuple[int, ...] = ()  # semitones of augmentation
    settings: dict = field(default_factory=dict)  # the train section of the settings used
    windows: dict[str, int] = field(default_factory=dict)  # per split: windows cut
    tokens: dict[str, int] = field(default_factory=dict)  # per split: tokens before augmentation
    vocabulary_coverage: dict[str, dict[str, float]] = field(default_factory=dict)  # per split: chords, tokens
    epochs_run: int = 0
    best_epoch: int = 0  # counted from 1
    best: dict[str, float] = field(default_factory=dict)  # the best epoch's figures (loss, val_loss, ...)
    wall_time_s: float = 0.0  # over every run that trained these weights
    tensorflow: str | None = None  # its version
    fine_tuned_from: str | None = None  # `train --from`: the base bundle
    outside_vocabulary: dict[str, int] | None = None  # `train --from`: per split, chords mapped to the nearest
    strategy: str = "one-device"  # tf.distribute: one-device | mirrored | multi-worker (offline.distribute)
    workers: int = 1  # machines (TF_CONFIG workers) that trained together
    devices: tuple[str, ...] = ()  # each worker's training devices, e.g. ("GPU", "GPU"); () before they were kept
    global_batch_size: int = 0  # windows per optimiser step over every replica (0: not recorded)
    data: str = "midi"  # what `train` read: midi (files, in memory) | prepared (a `liveplay prepare` folder)

    def to_json(self) -> dict:
        out = {"command": self.command, "files": self.files.as_dict(), "transpose": list(self.transpose),
               "settings": self.settings, "windows": self.windows, "tokens": self.tokens,
               "vocabulary_coverage": self.vocabulary_coverage, "epochs_run": self.epochs_run,
               "best_epoch": self.best_epoch, "best": self.best, "wall_time_s": self.wall_time_s,
               "tensorflow": self.tensorflow, "strategy": self.strategy, "workers": self.workers,
               "devices": list(self.devices), "global_batch_size": self.global_batch_size, "data": self.data}
        if self.fine_tuned_from is not None:
            out["fine_tuned_from"] = self.fine_tuned_from
        if self.outside_vocabulary is not None:
            out["outside_vocabulary"] = self.outside_vocabulary
        return out

    @classmethod
    def from_json(cls, data: Any, path: Path) -> "Training":
        if data is None:
            return cls()
        data = _section(data, "training", path)
        transpose = data.get("transpose", [])
        if not isinstance(transpose, list) or not all(_is_int(s) for s in transpose):
            raise BundleError(path, f"training.transpose: must be a list of whole numbers (got {short(transpose)})")
        at_least_0 = lambda v: None if v >= 0 else "must be 0 or more"  # noqa: E731
        wall = data.get("wall_time_s", 0.0)
        if not _is_number(wall):
            raise BundleError(path, f"training.wall_time_s: must be a number (got {short(wall)})")
        return cls(
            command=_optional_str(data, "training.command", path),
            files=FileSplit.from_json(data.get("files", {}), path),
            transpose=tuple(transpose),
            settings=_section(data.get("settings", {}), "training.settings", path),
            windows=_figures(data, "training.windows", path),
            tokens=_figures(data, "training.tokens", path),
            vocabulary_coverage=_figures(data, "training.vocabulary_coverage", path, depth=2),
            epochs_run=_int(data, "training.epochs_run", path, at_least_0, default=0),
            best_epoch=_int(data, "training.best_epoch", path, at_least_0, default=0),
            best=_figures(data, "training.best", path),
            wall_time_s=float(wall),
            tensorflow=_optional_str(data, "training.tensorflow", path),
            fine_tuned_from=_optional_str(data, "training.fine_tuned_from", path),
            outside_vocabulary=_figures(data, "training.outside_vocabulary", path, optional=True),
            strategy=_choice(data, "training.strategy", path, STRATEGIES, "one-device"),
            workers=_int(data, "training.workers", path, lambda v: None if v >= 1 else "must be 1 or more", 1),
            devices=_names(data, "training.devices", path),
            global_batch_size=_int(data, "training.global_batch_size", path, at_least_0, 0),
            data=_choice(data, "training.data", path, ("midi", "prepared"), "midi"),
        )


@dataclass(frozen=True)
class Manifest:
    name: str
    architecture: Architecture
    grid: Grid
    training: Training = Training()
    created: str = ""  # UTC, ISO 8601
    kind: str = "single"  # one of KINDS
    files: dict[str, str] = field(default_factory=dict)  # role -> file name in the bundle (bundle.FILES)
    format: int = FORMAT_VERSION

    def to_json(self) -> dict:
        """The file's JSON; ``kind`` and ``grid.voicing`` only when not the default (older bundles
        have none)."""
        out = {"name": self.name, "created": self.created}
        if self.kind != "single":
            out["kind"] = self.kind
        grid = dataclasses.asdict(self.grid)
        if self.grid.voicing == "highest":  # as bundles wrote it before there were voicings
            del grid["voicing"]
        out.update({"grid": grid, "training": self.training.to_json(),
                    "files": dict(self.files), "format": self.format,
                    "architecture": dataclasses.asdict(self.architecture)})
        return out

    @classmethod
    def from_json(cls, data: Any, path: str | Path) -> "Manifest":
        """Every value checked; BundleError names ``path`` and the first key that does not fit."""
        path = Path(path)
        if not isinstance(data, dict):
            raise BundleError(path, "must hold a JSON object")
        version = data.get("format")
        if version != FORMAT_VERSION:
            raise BundleError(path, f"bundle format {short(version)}; this liveplay reads format {FORMAT_VERSION}")
        kind = data.get("kind", "single")
        if kind not in KINDS:
            raise BundleError(path, f"kind: must be one of {', '.join(KINDS)} (got {short(kind)})")
        for key in ("name", "created"):
            if not isinstance(data.get(key, ""), str):
                raise BundleError(path, f"{key}: must be a string (got {short(data.get(key))})")
        files = _section(data.get("files", {}), "files", path)
        for role, name in files.items():
            if not isinstance(name, str):
                raise BundleError(path, f"files.{role}: must be a file name (got {short(name)})")
        return cls(data.get("name", ""), Architecture.from_json(data.get("architecture"), path),
                   Grid.from_json(data.get("grid"), path), Training.from_json(data.get("training"), path),
                   data.get("created", ""), kind, files, version)
