"""The small exception family of liveplay and the exit codes they map to.

Exit codes (STYLE.md): 0 ok, 1 runtime failure, 2 bad usage, config, data or model file.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2


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
