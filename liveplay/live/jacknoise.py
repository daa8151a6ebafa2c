"""libjack's own messages kept out of liveplay's output; liveplay says in its own words what is missing.

libjack writes its errors and notices to stderr ("Cannot connect to server socket err = No such
file or directory", "jack server is not running or cannot be started", ...) whenever a JACK client
cannot be opened -- a server that is not up yet, or went away while liveplay waits for it. It lets
a program replace the two functions it writes them with (``jack_set_error_function``,
``jack_set_info_function``). ``quiet_libjack`` replaces them in every copy of libjack in this
process -- the system's (``jackgraph``) and the one python-rtmidi's wheel bundles -- with one that
logs each message at debug level (``log_level: debug`` shows them). Call it before the first JACK
client is opened. The originals come back at exit: libjack may still write while the process ends,
and a call into a finished interpreter would crash.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

MESSAGE = ctypes.CFUNCTYPE(None, ctypes.c_char_p)  # void (*)(const char *)
KINDS = ("error", "info")


def _to_debug_log(kind: str):
    def write(text: bytes | None) -> None:
        try:  # called from libjack's threads too: never raise into C
            log.debug("libjack %s: %s", kind, (text or b"").decode(errors="replace").strip())
        except Exception:
            pass

    return MESSAGE(write)


# libjack keeps only the function pointers: the ctypes objects must live as long as the process
_WRITERS = {kind: _to_debug_log(kind) for kind in KINDS}
_QUIETED: dict[str, tuple[ctypes.CDLL, dict[str, int | None]]] = {}  # path -> (library, original pointers)


def loaded_libjacks() -> list[str]:
    """Paths of the libjack copies mapped into this process, once the ones liveplay uses are loaded:
    python-rtmidi's (linked by its extension module) and the system's (``ctypes.util``)."""
    try:
        import rtmidi  # noqa: F401
    except ImportError:
        pass
    system = ctypes.util.find_library("jack")
    if system:
        try:
            ctypes.CDLL(system)
        except OSError:
            pass
    paths: list[str] = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(None, 5)
            if len(fields) < 6:
                continue
            path = fields[5].strip()
            if os.path.basename(path).startswith("libjack") and ".so" in path and path not in paths:
                paths.append(path)
    return paths


def quiet_libjack() -> int:
    """Send libjack's messages to the debug log in every copy loaded; how many copies are quiet now.
    Cheap to call again (a copy already quiet is left as it is)."""
    for path in loaded_libjacks():
        if path in _QUIETED:
            continue
        try:
            lib = ctypes.CDLL(path)  # the copy already loaded: the same handle
            originals = {kind: ctypes.c_void_p.in_dll(lib, f"jack_{kind}_callback").value for kind in KINDS}
            for kind in KINDS:
                setter = getattr(lib, f"jack_set_{kind}_function")
                setter.argtypes, setter.restype = [MESSAGE], None
                setter(_WRITERS[kind])
        except (OSError, ValueError, AttributeError) as err:
            log.debug("libjack at %s keeps its messages: %s", path, err)
            continue
        _QUIETED[path] = (lib, originals)
    return len(_QUIETED)


def restore_libjack() -> None:
    """libjack's own message functions back (at exit; and for tests)."""
    for lib, originals in _QUIETED.values():
        for kind, pointer in originals.items():
            ctypes.c_void_p.in_dll(lib, f"jack_{kind}_callback").value = pointer
    _QUIETED.clear()


atexit.register(restore_libjack)
