"""MIDI files <-> step tokens, with mido.

Reading: all tracks are merged (of a ``run --record`` session, the musician's track alone); positions are taken in ticks and divided by
``ticks_per_beat``, so the grid is in beats and tempo changes do not move it.
A note_on with velocity 0 is a note_off; a note_on of a pitch already sounding
on the same channel ends the earlier note there (re-strike); notes never ended
last until the end of the file. Channel 10 (drums) is skipped unless asked.

Quantising a note to the grid: onset step = round(onset_beats * steps_per_beat),
end step = max(onset step + 1, round(end_beats * steps_per_beat)). The token of
step k is the chord of the pitches whose onset step is k; else HOLD if a note
started earlier still sounds past k; else REST.

Writing: a chord sounds from its step until the next chord or REST (HOLD keeps
it: ``tokens.note_changes``, the live note writer's rule too); every note_on gets
its note_off; track 0 holds the tempo.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import mido

from liveplay.errors import DataError, MidiFileError
from liveplay.music.duet import Duet, nearly_empty, split_parts
from liveplay.music.tokens import HOLD, REST, Chord, RawToken, make_chord, note_changes

log = logging.getLogger(__name__)

DRUM_CHANNEL = 9  # channel 10, counted from 0
MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
# Bounds on the work one file may cause, checked before the work is done:
# - bytes: mido makes a Python object of every message (about 250 bytes and 5 us each), and a
#   message can be 2 bytes, so 2 MB of the densest file costs about 5 s and 350 MB. The largest
#   file of the shipped corpus is 140 kB; a long performance with pedalling is a few hundred kB.
MAX_FILE_BYTES = 2 * 1024 * 1024
# - beats: one delta can claim 2^28 ticks (a 37-byte file at one tick a beat took 13.4 GB as a
#   grid); 100 000 beats is about 14 hours at 120 BPM.
MAX_BEATS = 100_000
# - grid steps: the token arrays of one file (about 90 bytes a step); 400 000 is 100 000 beats of
#   sixteenths, or 4.6 hours at 120 BPM on the finest grid (24 steps a beat).
MAX_STEPS = 400_000
# mido refuses a whole file over one message longer than 1 MB (a long sysex dump): allow any
# message up to the file-size bound; a sysex is skipped anyway, the notes around it are kept
mido.midifiles.midifiles.MAX_MESSAGE_LENGTH = MAX_FILE_BYTES


@dataclass(frozen=True)
class Note:
    pitch: int
    start: float  # beats
    end: float  # beats
    velocity: int
    channel: int


def check_readable(path: Path) -> None:
    """A regular, readable file of sane size, or MidiFileError saying which it is not (before
    opening it: a FIFO would hang the reader, a folder is no file)."""
    try:
        st = path.stat()
    except FileNotFoundError as err:
        reason = f"a broken symbolic link (to {os.readlink(path)})" if path.is_symlink() else "no such file"
        raise MidiFileError(path, reason) from err
    except PermissionError as err:
        raise MidiFileError(path, "permission denied (a folder on its path cannot be searched)") from err
    except OSError as err:  # a symlink loop, a path through a file, a name too long...
        raise MidiFileError(path, f"cannot reach it ({err.strerror or err})") from err
    if stat.S_ISDIR(st.st_mode):
        raise MidiFileError(path, "a folder, not a MIDI file")
    if not stat.S_ISREG(st.st_mode):
        raise MidiFileError(path, "not a regular file (a FIFO, a socket or a device)")
    if not os.access(path, os.R_OK):
        raise MidiFileError(path, "permission denied")
    if st.st_size > MAX_FILE_BYTES:
        raise MidiFileError(path, f"{st.st_size} bytes: larger than the {MAX_FILE_BYTES} liveplay reads")


def read_notes(path: str | Path, skip_drums: bool = True) -> tuple[list[Note], float]:
    """All notes of a MIDI file, in beats, and the file's length in beats (at most ``MAX_BEATS``)."""
    path = Path(path)
    check_readable(path)
    try:
        midi = mido.MidiFile(path)
    except Exception as err:  # mido raises OSError, EOFError, KeyError, ValueError... on bad files
        raise MidiFileError(path, _reason(err)) from err
    if midi.type == 2:
        log.debug("%s: type-2 MIDI file, its tracks are merged as if played together", path)
    tpb = midi.ticks_per_beat
    if not isinstance(tpb, int) or tpb <= 0:
        raise MidiFileError(path, f"unsupported time division {tpb!r} (SMPTE timing)")

    events, end = _note_events(_music_tracks(midi), skip_drums)
    if end > MAX_BEATS * tpb:  # checked before any note or grid is made: 37 bytes can claim 10^8 beats
        raise MidiFileError(path, f"longer than {MAX_BEATS} beats (at {tpb} ticks a beat it reaches beat "
                                  f"{end // tpb}): liveplay reads at most that much of one file")
    notes: list[Note] = []
    sounding: dict[tuple[int, int], tuple[int, int]] = {}  # (channel, pitch) -> (start tick, velocity)
    for tick, on, channel, pitch, velocity in events:
        started = sounding.pop((channel, pitch), None)
        if started is not None:
            notes.append(Note(pitch, started[0] / tpb, tick / tpb, started[1], channel))
        if on:
            sounding[(channel, pitch)] = (tick, velocity)
    for (channel, pitch), (start, velocity) in sounding.items():  # never ended: last to the end
        notes.append(Note(pitch, start / tpb, end / tpb, velocity, channel))
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes, end / tpb


def _note_events(tracks: Sequence[mido.MidiTrack], skip_drums: bool) -> tuple[list[tuple], int]:
    """The note_on and note_off messages of ``tracks`` as (tick, sounds, channel, pitch, velocity)
    in playing order, and the last tick of any track (the file's length).

    The order is ``mido.merge_tracks``' (by tick; at one tick, earlier tracks first), without its
    two checked copies of every message (three times the memory, and 50 s for 2 MB of notes)."""
    events = []
    end = 0
    for track in tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type in ("note_on", "note_off") and not (skip_drums and msg.channel == DRUM_CHANNEL):
                events.append((tick, msg.type == "note_on" and msg.velocity > 0, msg.channel, msg.note,
                               msg.velocity))
        end = max(end, tick)
    events.sort(key=lambda e: e[0])  # stable: tracks stay in file order within a tick
    return events, end


def _music_tracks(midi: mido.MidiFile) -> list:
    """The tracks to read: all of them, but in a ``liveplay run --record`` session (tracks named
    'liveplay' and 'musician') only the musician's -- what they played is what there is to learn."""
    names = [next((m.name for m in t if m.type == "track_name"), None) for t in midi.tracks]
    if "musician" in names and "liveplay" in names:
        return [t for t, name in zip(midi.tracks, names) if name != "liveplay"]
    return midi.tracks


def notes_to_tokens(notes: Sequence[Note], length_beats: float, steps_per_beat: int,
                    max_notes: int, lowest: bool = False, voicing: str = "highest") -> list[RawToken]:
    """Quantise notes onto the grid (module docstring), a step's chord cut to ``max_notes`` by
    ``voicing`` (``music.tokens``); ``lowest``: its lowest ``max_notes`` pitches instead (a duet's
    accompaniment: ``music.duet``)."""
    if not notes:
        return []
    spans = []
    for n in notes:
        on = round(n.start * steps_per_beat)
        off = max(on + 1, round(n.end * steps_per_beat))
        spans.append((on, off, n.pitch))
    total = max(max(off for _, off, _ in spans), round(length_beats * steps_per_beat))
    onsets: list[list[int]] = [[] for _ in range(total)]
    last_end = [0] * total  # furthest end step of the notes started at each step
    for on, off, pitch in spans:
        onsets[on].append(pitch)
        last_end[on] = max(last_end[on], off)
    tokens: list[RawToken] = []
    sounding_until = 0
    for k in range(total):
        if onsets[k]:
            pitches = sorted(set(onsets[k]))[:max_notes] if lowest else onsets[k]
            tokens.append(make_chord(pitches, max_notes, voicing))
        elif sounding_until > k:
            tokens.append(HOLD)
        else:
            tokens.append(REST)
        sounding_until = max(sounding_until, last_end[k])
    return tokens


def read_tokens(path: str | Path, steps_per_beat: int, max_notes: int,
                skip_drums: bool = True, voicing: str = "highest") -> list[RawToken]:
    """A MIDI file as raw step tokens; raises MidiFileError naming the file."""
    notes, length = _grid_notes(path, steps_per_beat, skip_drums)
    return notes_to_tokens(notes, length, steps_per_beat, max_notes, voicing=voicing)


def read_duet(path: str | Path, steps_per_beat: int, max_notes: int, skip_drums: bool = True,
              voicing: str = "highest") -> Duet:
    """A multi-part MIDI file as a duet (``music.duet``): the top part the melody (its chords cut by
    ``voicing``), the others merged the accompaniment (its lowest ``max_notes`` pitches a step), both
    as raw step tokens of the same length. MidiFileError names the file: a bad file, one part only, a nearly empty accompaniment."""
    notes, length = _grid_notes(path, steps_per_beat, skip_drums)
    parts = split_parts(notes)
    if isinstance(parts, str):
        raise MidiFileError(path, parts)
    melody, accompaniment = parts
    mel = notes_to_tokens(melody, length, steps_per_beat, max_notes, voicing=voicing)
    acc = notes_to_tokens(accompaniment, length, steps_per_beat, max_notes, lowest=True)
    steps = max(len(mel), len(acc))  # a note at the file's last tick makes one part a step longer
    mel, acc = mel + [REST] * (steps - len(mel)), acc + [REST] * (steps - len(acc))
    thin = nearly_empty(acc, mel)
    if thin:
        raise MidiFileError(path, thin)
    return Duet(acc, mel)


def _grid_notes(path: str | Path, steps_per_beat: int, skip_drums: bool) -> tuple[list[Note], float]:
    """``read_notes``, refusing a file without notes or with more grid steps than ``MAX_STEPS``."""
    notes, length = read_notes(path, skip_drums)
    if not notes:
        raise MidiFileError(path, "no notes" + (" (outside channel 10)" if skip_drums else ""))
    steps = round(length * steps_per_beat) + 1  # no note ends after the file does
    if steps > MAX_STEPS:  # before the grid's arrays are made
        raise MidiFileError(path, f"{length:g} beats make {steps} steps at {steps_per_beat} a beat: liveplay "
                                  f"makes at most {MAX_STEPS} steps of one file")
    return notes, length


def find_midi_files(paths: Iterable[str | Path]) -> list[Path]:
    """MIDI files named directly or found (recursively, following links) in folders, sorted, without
    repeats. A folder that cannot be read, a link that loops and a broken link are skipped with a
    warning naming them."""
    found: list[Path] = []
    for p in map(Path, paths):
        try:
            folder = stat.S_ISDIR(p.stat().st_mode)
        except FileNotFoundError:
            if not p.is_symlink():
                raise DataError(f"{p}: no such file or folder") from None
            folder = False  # a broken link: read_notes names it
        except OSError:
            folder = False  # not reachable: read_notes says why (permission denied, a link loop...)
        if folder:
            found += _walk(p)
        else:
            found.append(p)  # read_notes says what is wrong with it, if anything
    seen, unique = set(), []
    for f in found:
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _walk(top: Path) -> list[Path]:
    def unreadable(err: OSError) -> None:
        log.warning("skipping folder %s: %s", err.filename, err.strerror or err)

    out, visited = [], set()
    for folder, subfolders, files in os.walk(top, onerror=unreadable, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # do not go round again
            inside = (os.path.realpath(os.path.dirname(folder)) + os.sep).startswith(real + os.sep)
            why = "a symbolic link loop" if inside else "a second link to a folder already read"
            log.warning("skipping folder %s: %s (it is %s)", folder, why, real)
            subfolders[:] = []
            continue
        visited.add(real)
        subfolders.sort()
        for name in sorted(files):  # os.walk lists a broken link or a link to itself among the files
            full = os.path.join(folder, name)
            if Path(name).suffix.lower() in MIDI_SUFFIXES:
                out.append(Path(full))  # read_notes names what is wrong with it, if anything
            elif os.path.islink(full) and not os.path.exists(full):
                log.warning("skipping %s: a broken symbolic link or a link loop (to %s)", full, os.readlink(full))
    return out


def load_token_files(paths: Iterable[str | Path], steps_per_beat: int, max_notes: int,
                     skip_drums: bool = True, progress=None, read=read_tokens,
                     voicing: str = "highest") -> list[tuple[Path, list[RawToken]]]:
    """Every readable MIDI file under ``paths`` as tokens, chords cut by ``voicing`` (``read``:
    ``read_duet`` for duets); bad files are skipped with one warning
    each and counted. ``progress(files, total, label)`` may wrap the loop (a progress bar)."""
    files = find_midi_files(paths)
    loaded = []
    for f in (progress(files, len(files), "reading MIDI files") if progress else files):
        try:
            loaded.append((f, read(f, steps_per_beat, max_notes, skip_drums, voicing)))
        except MidiFileError as err:
            log.warning("skipping %s: %s", err.path, err.reason)
    if len(loaded) < len(files):
        log.info("%d of %d file(s) skipped", len(files) - len(loaded), len(files))
    if not loaded:
        names = ", ".join(map(str, paths))
        raise DataError(f"no usable MIDI file in {names} ({len(files)} file(s) found, none readable)")
    return loaded


def tokens_to_midi(tokens: Sequence[RawToken], steps_per_beat: int, tempo_bpm: float,
                   velocity: int = 80, channel: int = 0, ticks_per_beat: int = 480,
                   program: int | None = None) -> mido.MidiFile:
    """A type-1 MIDI file: track 0 the tempo, track 1 the notes (module docstring)."""
    step_ticks = ticks_per_beat // steps_per_beat
    head = []
    if program is not None:
        head.append(mido.Message("program_change", channel=channel, program=program, time=0))
    events: list[tuple[int, int, mido.Message]] = []  # (tick, order: offs before ons, message)
    sounding: Chord = ()
    for k, tok in enumerate(tokens):
        tick = k * step_ticks
        offs, ons = note_changes(sounding, tok)
        for p in offs:
            events.append((tick, 0, mido.Message("note_off", channel=channel, note=p, velocity=0)))
        for p in ons:
            events.append((tick, 1, mido.Message("note_on", channel=channel, note=p, velocity=velocity)))
        if offs or ons:
            sounding = ons
    end = len(tokens) * step_ticks
    for p in sounding:
        events.append((end, 0, mido.Message("note_off", channel=channel, note=p, velocity=0)))
    return _midi_file(events, tempo_bpm, ticks_per_beat, end, head)


def notes_to_midi(notes: Sequence[Note], tempo_bpm: float, ticks_per_beat: int = 480) -> mido.MidiFile:
    """A type-1 MIDI file of notes (beats): track 0 the tempo, track 1 the notes."""
    events = []
    for n in notes:
        on, off = round(n.start * ticks_per_beat), round(n.end * ticks_per_beat)
        if off <= on:
            continue
        events.append((on, 1, mido.Message("note_on", channel=n.channel, note=n.pitch, velocity=n.velocity)))
        events.append((off, 0, mido.Message("note_off", channel=n.channel, note=n.pitch, velocity=0)))
    return _midi_file(events, tempo_bpm, ticks_per_beat, max([e[0] for e in events], default=0))


def _midi_file(events: list[tuple[int, int, mido.Message]], tempo_bpm: float, ticks_per_beat: int,
               end: int, head: Sequence[mido.Message] = ()) -> mido.MidiFile:
    """Events (tick, order: offs 0 before ons 1, message) -> a type-1 file; track 0 the tempo."""
    meta = mido.MidiTrack([
        mido.MetaMessage("track_name", name="liveplay", time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo_bpm), time=0),
        mido.MetaMessage("end_of_track", time=0),
    ])
    track = mido.MidiTrack(head)
    events.sort(key=lambda e: (e[0], e[1]))
    now = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    midi.tracks += [meta, track]
    return midi


def write_tokens(tokens: Sequence[RawToken], path: str | Path, steps_per_beat: int, tempo_bpm: float,
                 **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens_to_midi(tokens, steps_per_beat, tempo_bpm, **kwargs).save(path)
    return path


def _reason(err: Exception) -> str:
    if isinstance(err, EOFError):
        return "truncated or empty MIDI file"
    if isinstance(err, FileNotFoundError):
        return "no such file"
    if isinstance(err, PermissionError):
        return "permission denied"
    text = str(err) or type(err).__name__
    if "MThd" in text:
        return "not a MIDI file (no MThd header)"
    return f"corrupt MIDI file ({type(err).__name__}: {text})"



