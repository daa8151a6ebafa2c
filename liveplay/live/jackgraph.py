"""A read-only view of the JACK graph: which ports exist and what a port is connected to.

RtMidi says nothing about connections, so this opens one JACK client of its own through
libjack (ctypes, the library JACK itself ships; a foreign call releases the GIL, so opening it
stalls no step thread). It registers no port and is never activated: it only asks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading

log = logging.getLogger(__name__)

JACK_NO_START_SERVER = 0x01
CLOSE_WAIT = 2.0  # s the graph client's close is waited for (JackGraph.close)


def _library():
    name = ctypes.util.find_library("jack") or "libjack.so.0"
    lib = ctypes.CDLL(name)
    lib.jack_client_open.restype = ctypes.c_void_p
    lib.jack_client_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.jack_port_by_name.restype = ctypes.c_void_p
    lib.jack_port_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.jack_port_get_all_connections.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.jack_port_get_all_connections.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.jack_get_ports.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.jack_get_ports.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong]
    lib.jack_free.argtypes = [ctypes.c_void_p]
    lib.jack_client_close.argtypes = [ctypes.c_void_p]
    return lib


class JackGraph:
    def __init__(self, lib, client: int):
        self._lib, self._client = lib, client

    @classmethod
    def open(cls, name: str = "liveplay-graph") -> "JackGraph | None":
        """A client on the running server, or None (then connections are not watched)."""
        try:
            lib = _library()
            status = ctypes.c_int(0)
            client = lib.jack_client_open(name.encode(), JACK_NO_START_SERVER, ctypes.byref(status))
        except (OSError, AttributeError) as err:
            log.debug("no JACK graph view: %s", err)
            return None
        if not client:
            log.debug("no JACK graph view: jack_client_open status 0x%x", status.value)
            return None
        return cls(lib, client)

    def exists(self, port: str) -> bool:
        return bool(self._lib.jack_port_by_name(self._client, port.encode()))

    def ports(self, pattern: str) -> list[str]:
        """Full names of the ports whose name matches the regular expression ``pattern``."""
        return self._names(self._lib.jack_get_ports(self._client, pattern.encode(), None, 0))

    def connections(self, port: str) -> list[str]:
        """Full names of the ports ``port`` is connected to ([] when it has none or is not there)."""
        handle = self._lib.jack_port_by_name(self._client, port.encode())
        if not handle:
            return []
        return self._names(self._lib.jack_port_get_all_connections(self._client, handle))

    def _names(self, array) -> list[str]:
        """A NULL-terminated array of C strings from libjack, freed."""
        if not array:
            return []
        out = []
        i = 0
        while array[i]:
            out.append(array[i].decode(errors="replace"))
            i += 1
        self._lib.jack_free(array)
        return out

    def close(self, timeout: float = CLOSE_WAIT) -> bool:
        """Close the client; False when libjack had not returned after ``timeout`` s.

        ``jack_client_close`` waits for the server's answer, and a server busy with its other
        clients was seen not to give it (one daemon stop of about 36 under two CPU hogs hung here
        for good). The call releases the GIL, so it runs in a thread of its own and the
        caller goes on: the process's exit takes the client away."""
        if not self._client:
            return True
        client, self._client = self._client, None
        closer = threading.Thread(target=self._lib.jack_client_close, args=(client,), name="jack-graph-close",
                                  daemon=True)
        closer.start()
        closer.join(timeout)
        return not closer.is_alive()

    def delete(self) -> None:  # as DEAD_PORTS holds it: never closed once its server died
        pass
