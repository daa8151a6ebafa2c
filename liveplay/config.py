"""config.yaml -> one typed, validated ``Settings`` object.

The schema is the dataclasses below: a field's type annotation says what YAML
value it takes and its ``check`` metadata says which values are allowed. The
defaults live in the shipped ``config.yaml`` (one comment per setting), which a
test keeps in step with this schema. A user's file only lists what it changes.

Every problem is collected before anything is reported: unknown keys (with the
nearest valid key suggested), wrong types and out-of-range values, each named
by its full dotted path. CLI flags override the file through
``Settings.override`` where ``None`` means "flag not given".
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from liveplay.errors import ConfigError, clip, short
from liveplay.yamlsafe import read_yaml

log = logging.getLogger(__name__)

DEFAULT_CONFIG = (Path(__file__).parent / "defaults.yaml").resolve()  # the shipped config.yaml
MAX_PROBLEMS = 50  # problems listed in one error; the rest are summed up


# -- checks: each returns None when the value is fine, else what is allowed ----------------


def between(lo: float, hi: float) -> Callable[[Any], str | None]:
    def check(value):
        return None if lo <= value <= hi else f"must be between {lo} and {hi}"

    return check


def one_of(*choices) -> Callable[[Any], str | None]:
    def check(value):
        return None if value in choices else "must be one of " + ", ".join(map(str, choices))

    return check


def each(inner: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def check(values):
        for v in values:
            problem = inner(v)
            if problem:
                return f"every item {problem} (got {short(v)})"
        return None

    return check


MAX_FOLDER_WEIGHT = 4.0  # a folder's windows taken at most four times an epoch


def folder_weight(item: str) -> str | None:
    """'FOLDER=W' with W between 0 and MAX_FOLDER_WEIGHT (train.folder_weights)."""
    name, _, weight = item.partition("=")
    try:
        ok = bool(name) and 0.0 <= float(weight) <= MAX_FOLDER_WEIGHT
    except ValueError:
        ok = False
    return None if ok else f"must be FOLDER=WEIGHT with a weight between 0 and {MAX_FOLDER_WEIGHT:g}"


def setting(check: Callable[[Any], str | None] | None = None, *, path: bool = False):
    """A field of the schema; ``path=True`` marks a file path resolved against its config file."""
    return field(default=None, metadata={"check": check, "path": path})


# -- the schema -------------------------------------------------------------------------------

# which notes of a chord wider than grid.max_notes are kept (music.tokens): the highest, or the
# bass and the highest max_notes - 1
VOICINGS = ("highest", "outer")

# the performance modes (live.performance): the order is the CC ``mode`` map's, low values first
MODES = ("respond", "accompany", "solo")


@dataclass(frozen=True)
class GridSettings:
    steps_per_beat: int = setting(one_of(1, 2, 3, 4, 6, 8, 12, 24))
    max_notes: int = setting(between(1, 16))
    voicing: str = setting(one_of(*VOICINGS))
    vocab_size: int = setting(between(8, 100_000))
    context_length: int = setting(between(2, 4096))
    skip_drums: bool = setting()


@dataclass(frozen=True)
class ModelSettings:
    path: str = setting(path=True)
    duet: str | None = setting(path=True)
    short_term: float = setting(between(0.0, 0.95))
    long_term: float = setting(between(0.0, 0.95))
    long_term_gate: bool = setting()
    harmony: float = setting(between(0.0, 10.0))
    key_keeping: float = setting(between(0.0, 10.0))
    embedding: int = setting(between(1, 4096))
    hidden: int = setting(between(1, 4096))
    layers: int = setting(between(1, 8))
    dropout: float = setting(between(0.0, 0.9))


# train.strategy: how `liveplay train` spreads over devices and machines (offline.distribute)
STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")
# train.kind: the kind of model trained (model.manifest.KINDS): one token stream, or a duet's two
TRAIN_KINDS = ("single", "duet")


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = setting(between(1, 10_000))
    batch_size: int = setting(between(1, 4096))
    learning_rate: float = setting(between(1e-6, 1.0))
    window_stride: int = setting(between(1, 4096))
    validation_fraction: float = setting(between(0.0, 0.5))
    validation_min: int = setting(between(0, 1000))
    test_fraction: float = setting(between(0.0, 0.5))
    split_seed: int = setting(between(0, 2**31 - 1))
    transpose: list[int] = setting(each(between(-24, 24)))
    augment: str = setting(one_of("all", "random", "normalise", "frame"))
    folder_weights: list[str] = setting(each(folder_weight))
    patience: int = setting(between(1, 1000))
    seed: int = setting(between(0, 2**31 - 1))
    shuffle_buffer: int = setting(between(1, 10_000_000))
    strategy: str = setting(one_of(*STRATEGIES))
    kind: str = setting(one_of(*TRAIN_KINDS))


@dataclass(frozen=True)
class PrepareSettings:
    jobs: int = setting(between(0, 1024))
    shard_windows: int = setting(between(1, 10_000_000))


@dataclass(frozen=True)
class SamplerSettings:
    temperature: float = setting(between(0.01, 100.0))
    heat: float = setting(between(1.0, 10.0))
    accompany_heat: float = setting(between(1.0, 10.0))
    cool: float = setting(between(0.1, 1.0))
    min_temperature: float = setting(between(0.01, 100.0))
    max_temperature: float = setting(between(0.01, 100.0))
    repeat_lengths: list[int] = setting(each(between(1, 64)))
    seed: int | None = setting(between(0, 2**63 - 1))

    def accompanying(self) -> "SamplerSettings":
        """The settings the duet model is sampled with (accompany mode): ``accompany_heat`` for
        ``heat``. Each model's thermostat is measured on its own validation split."""
        return replace(self, heat=self.accompany_heat)


@dataclass(frozen=True)
class GenerateSettings:
    steps: int = setting(between(1, 1_000_000))
    tempo_bpm: float = setting(between(20.0, 400.0))


@dataclass(frozen=True)
class LiveSettings:
    api: str = setting(one_of("auto", "alsa", "jack"))
    input: str | None = setting()
    output: str | None = setting()
    virtual: bool = setting()
    mode: str = setting(one_of(*MODES))
    tempo_bpm: float = setting(between(20.0, 400.0))
    steps_per_beat: int | None = setting(one_of(1, 2, 3, 4, 6, 8, 12, 24))
    lookahead_ms: float = setting(between(1.0, 500.0))
    silence_steps: int = setting(between(1, 1024))
    max_response_steps: int = setting(between(1, 100_000))
    output_channel: int = setting(between(1, 16))
    velocity: int = setting(between(1, 127))
    follow_velocity: bool = setting()
    pitch_low: int = setting(between(0, 127))
    pitch_high: int = setting(between(0, 127))
    passthrough: bool = setting()
    prime: str | None = setting(path=True)
    queue_size: int = setting(between(16, 1_000_000))
    record: str | None = setting(path=True)
    synth: bool = setting()
    realtime_priority: int = setting(between(0, 98))


@dataclass(frozen=True)
class ControlSettings:
    channel: int = setting(between(0, 16))
    temperature: int | None = setting(between(0, 127))
    mode: int | None = setting(between(0, 127))
    tempo: int | None = setting(between(0, 127))
    panic: int | None = setting(between(0, 127))
    mute: int | None = setting(between(0, 127))
    reset_context: int | None = setting(between(0, 127))
    tempo_min: float = setting(between(20.0, 400.0))
    tempo_max: float = setting(between(20.0, 400.0))


# the controls `liveplay learn` maps (ControlSettings fields that hold a CC number)
LEARNABLE = ("temperature", "mode", "tempo", "panic", "mute", "reset_context")


@dataclass(frozen=True)
class ClockSettings:
    source: str = setting(one_of("internal", "midi"))
    send: bool = setting()


ENGINES = ("auto", "numpy", "numpy-streaming", "tensorflow")


@dataclass(frozen=True)
class Settings:
    grid: GridSettings = None
    model: ModelSettings = None
    train: TrainSettings = None
    prepare: PrepareSettings = None
    sampler: SamplerSettings = None
    generate: GenerateSettings = None
    live: LiveSettings = None
    controls: ControlSettings = None
    clock: ClockSettings = None
    engine: str = setting(one_of(*ENGINES))
    engine_threads: int = setting(between(1, 64))
    log_level: str = setting(one_of("debug", "info", "warning", "error"))

    def override(self, flags: dict[str, Any]) -> "Settings":
        """A copy with ``flags`` ({"sampler.temperature": 0.8, ...}) applied; None = not given."""
        given = {k: v for k, v in flags.items() if v is not None}
        if not given:
            return self
        tree = to_dict(self)
        for dotted, value in given.items():
            *parents, leaf = dotted.split(".")
            node = tree
            for p in parents:
                node = node[p]
            node[leaf] = value
        return _build(Settings, tree, "", [], base_dir=None, problems_source="command line")


# -- loading ----------------------------------------------------------------------------------


def load_settings(path: str | Path | None = None) -> Settings:
    """Defaults from the shipped config.yaml, then the user's file (if any) on top."""
    defaults = read_yaml(DEFAULT_CONFIG)
    base_dir = DEFAULT_CONFIG.parent
    _resolve_paths(Settings, defaults, base_dir)
    tree = defaults
    source = str(DEFAULT_CONFIG)
    if path is not None:
        path = Path(path)
        user = read_yaml(path)
        source = str(path)
        _resolve_paths(Settings, user, path.resolve().parent)
        tree = _merge(defaults, user)
    return _build(Settings, tree, "", [], base_dir=None, problems_source=source)


def to_dict(obj) -> dict:
    """Settings as plain YAML-like data (tuples back to lists)."""

    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    return plain(dataclasses.asdict(obj))


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _merge(base[key], value)
        else:
            out[key] = value
    return out


def _section_type(tp) -> type | None:
    return tp if dataclasses.is_dataclass(tp) else None


def _check_keys(cls, data: dict, prefix: str, problems: list[str]) -> None:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            if len(problems) >= MAX_PROBLEMS:  # 200 000 unknown keys: say it, do not list them
                problems.append(f"{prefix or 'the top level'}: more unknown keys, not listed")
                return
            dotted = clip(str(dotted))
            candidates = [f"{prefix}{n}" for n in names] + _all_paths(Settings)
            close = difflib.get_close_matches(dotted, candidates, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(f"{dotted}: unknown key{hint}")
            continue
        sub = _section_type(hints[key])
        if sub is not None:
            if not isinstance(value, dict):
                problems.append(f"{dotted}: must be a section (a mapping of keys)")
            else:
                _check_keys(sub, value, f"{dotted}.", problems)


def _all_paths(cls, prefix: str = "") -> list[str]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        sub = _section_type(hints[f.name])
        if sub is not None:
            out += _all_paths(sub, f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}")
    return out


def _resolve_paths(cls, data: dict, base_dir: Path) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        sub = _section_type(hints[f.name])
        if sub is not None and isinstance(data[f.name], dict):
            _resolve_paths(sub, data[f.name], base_dir)
        elif f.metadata.get("path") and isinstance(data[f.name], str):
            p = Path(data[f.name]).expanduser()
            data[f.name] = str(p if p.is_absolute() else (base_dir / p).resolve())


def _type_problem(tp, value) -> str | None:
    """None if ``value`` fits the annotation ``tp``, else a phrase saying what is allowed."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _type_problem(inner[0], value)
    if origin is list:
        if not isinstance(value, list):
            return "must be a list"
        for v in value:
            problem = _type_problem(args[0], v)
            if problem:
                return f"every item {problem} (got {short(v)})"
        return None
    if tp is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if tp is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be a whole number"
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "must be a number"
    if tp is str:
        return None if isinstance(value, str) else "must be a string"
    return None


def _build(cls, data: dict, prefix: str, problems: list[str], *, base_dir, problems_source):
    """Validate ``data`` against ``cls`` and build it; raise once with every problem."""
    top = not prefix
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}{f.name}"
        sub = _section_type(hints[f.name])
        if f.name not in data:
            problems.append(f"{dotted}: missing (the shipped config.yaml defines every key)")
            continue
        value = data[f.name]
        if sub is not None:
            if isinstance(value, dict):
                values[f.name] = _build(sub, value, f"{dotted}.", problems, base_dir=base_dir,
                                        problems_source=problems_source)
            else:
                problems.append(f"{dotted}: must be a section (a mapping of keys)")
            continue
        tp = hints[f.name]
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        problem = _type_problem(tp, value)
        if problem is None and value is not None and f.metadata.get("check"):
            problem = f.metadata["check"](value)
        if problem:
            got = "" if "(got " in problem else f" (got {short(value)})"  # a list's check names its item
            problems.append(f"{dotted}: {problem}{got}")
            continue
        values[f.name] = tuple(value) if isinstance(value, list) else value
    if top:
        _check_keys(cls, data, "", problems)
        if problems:
            raise ConfigError(problems, problems_source)
        settings = cls(**values)
        cross = _cross_checks(settings)
        if cross:
            raise ConfigError(cross, problems_source)
        return settings
    if any(p.startswith(prefix) for p in problems):
        return None
    return cls(**values)


def _cross_checks(s: Settings) -> list[str]:
    problems = []
    if s.sampler.min_temperature > s.sampler.max_temperature:
        problems.append("sampler.min_temperature: must not exceed sampler.max_temperature")
    if s.live.pitch_low > s.live.pitch_high:
        problems.append("live.pitch_low: must not exceed live.pitch_high")
    if s.controls.tempo_min > s.controls.tempo_max:
        problems.append("controls.tempo_min: must not exceed controls.tempo_max")
    used: dict[int, str] = {}
    for name in LEARNABLE:
        cc = getattr(s.controls, name)
        if cc is None:
            continue
        if cc in used:
            problems.append(f"controls.{name}: CC {cc} is already controls.{used[cc]}")
        used[cc] = name
    if s.clock.send and s.clock.source == "midi":
        problems.append("clock.send: liveplay sends MIDI clock only from its internal clock (clock.source: internal)")
    if s.train.validation_fraction + s.train.test_fraction >= 0.9:
        problems.append("train.test_fraction: validation and test fractions must leave files to train on")
    if s.train.kind == "duet" and s.train.window_stride % 2:
        problems.append("train.window_stride: a duet model's windows start on whole steps (two tokens): "
                        "must be even with train.kind: duet")
    if s.train.kind == "duet" and s.train.augment == "frame":
        problems.append("train.augment: frame follows one stream's key; a duet model's parts move together "
                        "by the whole piece's key (augment: normalise)")
    return problems
