"""``liveplay run --record FILE.mid``: the session as a standard MIDI file, safe against a crash.

A type-1 file at 480 ticks a beat: track 0 the tempo map, track 1 "liveplay" (every channel
message liveplay sent), track 2 "musician" (every channel message the player heard as the
musician's: notes, pedal, bends -- not liveplay's own notes coming back). Times are the monotonic
stamps (the rtmidi callback's for the musician, the send's for liveplay), turned into ticks by the
tempo in force, so the file lines up with the beat grid in a DAW.

Crash safety: ``flush`` (from the app's main loop, at least once a bar) writes the whole file anew
to ``FILE.mid.tmp`` and renames it over ``FILE.mid``, so the file on disk is always complete and
readable; a SIGKILL loses at most what came since the last flush. Events are encoded to bytes as
they come (a few bytes each), so a flush of an hour-long session is a memory copy and one write,
not a re-encoding. ``close`` ends every note still on in either track and flushes a last time,
so nothing hangs in the file after a normal stop.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from pathlib import Path

import mido

from liveplay.errors import UsageError

log = logging.getLogger(__name__)

TICKS_PER_BEAT = 480
CHANNEL_TYPES = frozenset({"note_on", "note_off", "control_change", "pitchwheel", "aftertouch", "polytouch",
                           "program_change"})


def varlen(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def meta(kind: int, data: bytes) -> bytes:
    return bytes([0xFF, kind]) + varlen(len(data)) + data


class Track:
    """One track's encoded events (delta times from its last event), and its notes still on."""

    def __init__(self, name: str):
        self.data = bytearray(b"\x00" + meta(0x03, name.encode()))
        self.tick = 0
        self.on: set[tuple[int, int]] = set()  # (channel, pitch)

    def add(self, tick: int, raw: bytes) -> None:
        tick = max(tick, self.tick)  # stamps from two threads may cross by a hair
        self.data += varlen(tick - self.tick) + raw
        self.tick = tick

    def chunk(self, end_tick: int) -> bytes:
        body = bytes(self.data) + varlen(max(0, end_tick - self.tick)) + meta(0x2F, b"")
        return b"MTrk" + struct.pack(">I", len(body)) + body


class SessionRecording:
    def __init__(self, path: str | Path, tempo_bpm: float, start: float):
        self.path = Path(path)
        if self.path.suffix.lower() not in (".mid", ".midi"):
            raise UsageError(f"--record {self.path}: give a .mid file name")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.start = start
        self.tempo = Track("tempo")
        self.tracks = {"liveplay": Track("liveplay"), "musician": Track("musician")}
        self._anchor = (start, 0.0, tempo_bpm)  # (time, beats at that time, bpm since)
        self._set_tempo(start, tempo_bpm)
        self.last_flush = start
        self.flushes = 0
        self.flush()  # a readable (empty) file from the start: the name is checked now, not at the end

    # -- events -----------------------------------------------------------------------------

    def _tick(self, t: float) -> int:
        at, beats, bpm = self._anchor
        return max(0, round((beats + (t - at) * bpm / 60.0) * TICKS_PER_BEAT))

    def _set_tempo(self, t: float, bpm: float) -> None:
        at, beats, old = self._anchor
        self._anchor = (t, beats + max(0.0, t - at) * old / 60.0, bpm)
        self.tempo.add(self._tick(t), meta(0x51, mido.bpm2tempo(bpm).to_bytes(3, "big")))

    def tempo_changed(self, t: float, bpm: float) -> None:
        with self.lock:
            if abs(bpm - self._anchor[2]) >= 0.01:
                self._set_tempo(t, bpm)

    def played(self, msg: mido.Message, t: float) -> None:
        """A message liveplay sent (the note writer's output)."""
        self._add("liveplay", msg, t)

    def heard(self, msg: mido.Message, t: float) -> None:
        """A message of the musician's, at its arrival stamp."""
        self._add("musician", msg, t)

    def _add(self, track: str, msg: mido.Message, t: float) -> None:
        if msg.type not in CHANNEL_TYPES:
            return
        with self.lock:
            tr = self.tracks[track]
            tr.add(self._tick(t), bytes(msg.bytes()))
            if msg.type in ("note_on", "note_off"):
                key = (msg.channel, msg.note)
                if msg.type == "note_on" and msg.velocity > 0:
                    tr.on.add(key)
                else:
                    tr.on.discard(key)
            elif msg.type == "control_change" and msg.control in (120, 123):
                tr.on = {k for k in tr.on if k[0] != msg.channel}

    # -- the file ---------------------------------------------------------------------------

    def due(self, now: float) -> bool:
        """Half a bar since the last flush: flushing then loses at most a bar to a crash."""
        return now - self.last_flush >= 0.5 * 4 * 60.0 / self._anchor[2]

    def flush(self, now: float | None = None) -> None:
        with self.lock:
            end = max(t.tick for t in (self.tempo, *self.tracks.values()))
            chunks = [self.tempo.chunk(end)] + [t.chunk(end) for t in self.tracks.values()]
        head = b"MThd" + struct.pack(">IHHH", 6, 1, len(chunks), TICKS_PER_BEAT)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(head + b"".join(chunks))
            os.replace(tmp, self.path)
        except OSError as err:
            if self.flushes == 0:
                raise UsageError(f"--record {self.path}: cannot write it ({err.strerror or err})") from err
            log.warning("recording: cannot write %s (%s); still recording, trying again", self.path, err)
            return
        self.flushes += 1
        self.last_flush = now if now is not None else self.last_flush

    def close(self, now: float) -> None:
        """End every note still on in the file, then write it a last time."""
        with self.lock:
            for tr in self.tracks.values():
                for channel, pitch in sorted(tr.on):
                    tr.add(self._tick(now), bytes([0x80 | channel, pitch, 0]))
                tr.on.clear()
        self.flush(now)
        log.info("recorded the session in %s", self.path)
