"""The user's settings file: where it lives, and editing it in place (``liveplay learn``).

Block-style files are edited line by line, so comments and layout stay; the result is
validated as a whole (``config.load_settings``) before it atomically replaces the file.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

import yaml

from liveplay.config import load_settings
from liveplay.errors import ConfigError
from liveplay.yamlsafe import parse, read_text

log = logging.getLogger(__name__)


def user_config_path() -> Path:
    """Where the user's settings live: $XDG_CONFIG_HOME/liveplay/config.yaml (~/.config/...)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "liveplay" / "config.yaml"


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def set_keys(path: str | Path, section: str, values: dict[str, Any]) -> None:
    """Write ``section.key: value`` pairs into a YAML settings file, keeping its comments and layout.

    Block-style files are edited line by line: a key's value is replaced in place (its
    comment stays, in the same column), a missing key is added at the end of its
    section, a missing section at the end of the file. Anything else (flow style) is
    rewritten through PyYAML, which drops comments. The result is validated as a whole
    before it replaces the file (atomically), so a failed edit loses nothing.
    """
    path = Path(path)
    text = read_text(path) if path.exists() else ""  # bounded, UTF-8, a regular file: or ConfigError
    lines = text.splitlines()
    header = re.compile(rf"^{re.escape(section)}:\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    flow = start is None and any(re.match(rf"^{re.escape(section)}:\s*\S", line) for line in lines)
    if flow:
        data = parse(text, str(path))  # no alias bombs, no duplicate keys
        data.setdefault(section, {}).update(values)
        new_text = yaml.safe_dump(data, sort_keys=False)
        log.warning("%s: %s is not in block style; the file is rewritten without its comments", path, section)
    else:
        if start is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines.append(f"{section}:")
            start = len(lines) - 1
        end = start + 1  # the section runs over indented, blank and comment lines
        while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t#"):
            end += 1
        while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1][0] == "#"):
            end -= 1  # blank lines and top-level comments after the section are not in it
        for key, value in values.items():
            pattern = re.compile(rf"^(\s+){re.escape(key)}:(\s*)([^#]*?)(\s*)(#.*)?$")
            for i in range(start + 1, end):
                m = pattern.match(lines[i])
                if m:
                    indent, gap, old, pad, comment = m.groups()
                    new = _yaml_scalar(value)
                    if comment:
                        width = len(old) + len(pad)
                        lines[i] = f"{indent}{key}:{gap or ' '}{new}{' ' * max(1, width - len(new))}{comment}"
                    else:
                        lines[i] = f"{indent}{key}: {new}"
                    break
            else:
                lines.insert(end, f"  {key}: {_yaml_scalar(value)}")
                end += 1
        new_text = "\n".join(lines) + "\n"
    check = parse(new_text, str(path))
    for key, value in values.items():
        if (check.get(section) or {}).get(key, object()) != value:
            raise ConfigError([f"{section}.{key}: could not be written into the file"], str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new_text, encoding="utf-8")
    try:
        load_settings(tmp)  # the whole file must still be valid settings
    except ConfigError as err:
        tmp.unlink()
        raise ConfigError(err.problems, str(path)) from err
    os.replace(tmp, path)
