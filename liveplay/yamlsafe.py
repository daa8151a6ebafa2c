"""Reading a settings file safely: bounded in size, aliases and time, strict about duplicates.

A settings file is a few kB of hand-written YAML. Anything else gets a clear ``ConfigError``
(exit 2) quickly, naming the file and, where there is one, the line:

- more than ``MAX_BYTES`` bytes, or bytes that are not UTF-8 text;
- more than ``MAX_ALIASES`` alias uses (``*name``): a few hundred bytes of nested aliases expand
  to gigabytes (an "alias bomb"), while settings have no need of many;
- collections nested deeper than ``MAX_DEPTH`` (a line of 50 000 ``[`` overflowed PyYAML's
  recursion into a RecursionError traceback; settings are two levels deep);
- a whole number of more than ``MAX_DIGITS`` digits (Python refuses one of thousands with a
  ValueError), or a value PyYAML cannot convert (a date of 30 February);
- a key given twice in one mapping (YAML would silently keep the last);
- anything PyYAML's safe loader refuses (no Python objects, ever).

Messages quote values through ``errors.short``: at most a short prefix of each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from liveplay.errors import ConfigError, clip, short

# settings files are a few kB (the shipped config.yaml, every setting commented, is 9 kB); PyYAML
# reads about 100 kB a second of the densest YAML, so this bounds a file's time to about a second
MAX_BYTES = 128 * 1024
MAX_ALIASES = 32  # with 32, the largest expansion is about 130 000 leaves (e ** (32 / e)): small
MAX_DEPTH = 20  # sections hold settings, some of which are lists: 3 levels are used
MAX_DIGITS = 100  # the longest setting, a 64-bit seed, has 19 digits


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, counting aliases and depth, and refusing duplicate keys."""

    aliases = 0
    depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (line {mark.line + 1}): "
                                     "a settings file needs few, and nested ones can expand without end")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"nested more than {MAX_DEPTH} levels deep (line {mark.line + 1}, "
                                     f"column {mark.column + 1}): settings are a few levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise yaml.YAMLError(f"{short(key)}: given twice (lines {seen[key]} and "
                                         f"{key_node.start_mark.line + 1}); give each key once")
                seen[key] = key_node.start_mark.line + 1
            except TypeError:  # an unhashable key: let the safe constructor say what is wrong
                break
        return super().construct_mapping(node, deep=deep)


    def construct_yaml_int(self, node):
        if len(node.value) > MAX_DIGITS:
            raise yaml.YAMLError(f"a number of {len(node.value)} digits (line {node.start_mark.line + 1}): "
                                 f"settings have at most {MAX_DIGITS}")
        return super().construct_yaml_int(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


def read_text(path: str | Path) -> str:
    """A settings file's text: a regular file, at most ``MAX_BYTES``, UTF-8; else ConfigError."""
    path = Path(path)
    where = str(path)
    try:
        if path.is_dir():
            raise ConfigError(["is a folder, not a settings file"], where)
        if path.exists() and not path.is_file():
            raise ConfigError(["not a regular file (a FIFO or a device?)"], where)
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError([f"{size} bytes: a settings file is a few kB (at most {MAX_BYTES})"], where)
        raw = path.read_bytes()
    except OSError as err:
        raise ConfigError([f"cannot read the file: {err.strerror or err}"], where) from err
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError([f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})"], where) from err


def parse(text: str, where: str) -> dict:
    """YAML settings text as a dict ({} when empty), by the bounded loader above; ConfigError
    names ``where``."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        raise ConfigError([f"not valid YAML: {str(err)[:300]}"], where) from err
    except ValueError as err:  # a value PyYAML's constructors cannot convert (a date of 30 February)
        raise ConfigError([f"not valid YAML: {clip(str(err), 120)}"], where) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(["the top level must be a mapping of sections"], where)
    return data


def read_yaml(path: str | Path) -> dict:
    """A settings file as a dict ({} when empty); ConfigError names the file and what is wrong."""
    return parse(read_text(path), str(path))
