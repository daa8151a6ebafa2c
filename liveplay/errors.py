"""The small exception family of liveplay and the exit codes they map to.

Exit codes (STYLE.md): 0 ok, 1 runtime failure, 2 bad usage, config, data or model file.
"""

from __future__ import annotations

import reprlib
from typing import Any

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2


class _Brief(reprlib.Repr):
    """reprlib's bounded repr (a few items of a few levels) with strings cut to a prefix, not middled."""

    def __init__(self, limit: int):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 3, limit, limit, limit
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 8

    def repr_str(self, x: str, level: int) -> str:
        return repr(x[: self.maxstring + 1])


def short(value: Any, limit: int = 60) -> str:
    """``value`` as a message may quote it: at most ``limit`` characters, "..." where it was cut.

    Bounded work too: a 20 MB string is sliced before it is quoted, a list of lists of a million
    items shows its first few (reprlib), so an error never echoes, or even builds, a huge value."""
    text = _Brief(limit).repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def clip(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters (a key of a megabyte is not echoed whole)."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


class LiveplayError(Exception):
    """Base of every error liveplay raises on purpose."""

    exit_code = EXIT_RUNTIME


class ConfigError(LiveplayError):
    """One or more settings are wrong; ``problems`` lists each, with its key path."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} config error(s){where}:\n{lines}")


class MidiFileError(LiveplayError):
    """A MIDI file could not be read; the message names the file and the reason."""

    exit_code = EXIT_USAGE

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DataError(LiveplayError):
    """A data set is unusable as a whole (e.g. no readable MIDI file left)."""

    exit_code = EXIT_USAGE


class BundleError(LiveplayError):
    """A model bundle is missing, corrupt or inconsistent; names the file and the problem."""

    exit_code = EXIT_USAGE

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UsageError(LiveplayError):
    """A command was given arguments that cannot work together."""

    exit_code = EXIT_USAGE


class PortError(LiveplayError):
    """A MIDI port or API could not be opened."""

    exit_code = EXIT_USAGE


def require_extra(extra: str, module: str, what: str) -> None:
    """UsageError (exit 2) naming the extra to install when ``module`` is not there. The base
    install is the runtime (mido, python-rtmidi, numpy, pyyaml); ``train`` adds TensorFlow and
    matplotlib, ``corpus`` music21, ``test`` the test tools."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UsageError(f"{what} needs the {extra} extra: pip install 'liveplay[{extra}]' "
                         f"(scripts/test sets up everything)")
