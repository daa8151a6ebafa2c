"""Reading a settings file safely: bounded in size, aliases and time, strict about duplicates.

A settings file is a few kB of hand-written YAML. Anything else gets a clear ``ConfigError``
(exit 2) quickly, naming the file and, where there is one, the line:

- more than ``MAX_BYTES`` bytes, or bytes that are not UTF-8 text;
- more than ``MAX_ALIASES`` alias uses (``*name``): a few hundred bytes of nested aliases expand
  to gigabytes (an "alias bomb"), while settings have no need of many;
- a key given twice in one mapping (YAML would silently keep the last);
- anything PyYAML's safe loader refuses (no Python objects, ever).

``short(value)`` quotes at most a short prefix of a value in a message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from liveplay.errors import ConfigError

MAX_BYTES = 1_000_000
MAX_ALIASES = 32


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (a key of a megabyte is not echoed whole)."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (a 20 MB value is not echoed whole)."""
    text = repr(value) if not isinstance(value, (dict, list)) or len(value) < 50 else f"<{type(value).__name__} " \
        f"of {len(value)} items>"
    return clip(text, limit)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, counting aliases and refusing duplicate keys."""

    aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (line {mark.line + 1}): "
                                     "a settings file needs few, and nested ones can expand without end")
        return super().compose_node(parent, index)

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


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)


def read_yaml(path: str | Path) -> dict:
    """A settings file as a dict ({} when empty); ConfigError names the file and what is wrong."""
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
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError([f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start})"], where) from err
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        raise ConfigError([f"not valid YAML: {str(err)[:300]}"], where) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(["the top level must be a mapping of sections"], where)
    return data
