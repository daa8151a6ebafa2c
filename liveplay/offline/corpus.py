"""Export music21's bundled public-domain collections to MIDI files (the ``corpus`` extra).

Sets:

- ``bach``: J. S. Bach's chorales (the corpus' BWV files with four to six parts), one file each;
- ``essen``: the Essen Folksong Collection (monophonic German, Chinese and other folk songs);
- ``oneills``: O'Neill's Music of Ireland (1850 tunes, monophonic).

The compositions are centuries old and in the public domain; the encodings come
with music21 (BSD licensed), which distributes its corpus with the encoders'
permission (music21's ``corpus/license.txt``). A piece that fails to parse or
write is skipped with a warning. ``DEST/corpus.json`` lists what was written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

from liveplay.errors import DataError
from liveplay.music.midifile import Note, notes_to_midi

log = logging.getLogger(__name__)

SETS = {
    "bach": {"composer": "bach", "title": "J. S. Bach, four-part chorales",
             "license": "public domain compositions; music21 corpus encodings (see music21 corpus/license.txt)"},
    "essen": {"composer": "essenFolksong", "title": "Essen Folksong Collection (Schaffrath et al.)",
              "license": "traditional melodies, public domain; EsAC encodings as distributed with music21"},
    "oneills": {"composer": "oneills1850", "title": "O'Neill's Music of Ireland (1850)",
                "license": "published 1903, public domain; ABC transcriptions as distributed with music21"},
}
DEFAULT_SETS = ("bach", "essen")
CHORALE = re.compile(r"^bwv\d+")  # BWV-numbered chorale files (variants like -a, -lpz included)

T = TypeVar("T")


def progress(items: Iterable[T], total: int, label: str) -> Iterator[T]:
    """A progress bar on a terminal; a log line every tenth otherwise."""
    tty = sys.stderr.isatty()
    start = time.monotonic()
    step = max(1, total // 10)
    for i, item in enumerate(items, 1):
        yield item
        if tty:
            filled = int(30 * i / max(total, 1))
            sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {i}/{total} "
                             f"{time.monotonic() - start:.0f}s")
            sys.stderr.flush()
        elif i % step == 0 or i == total:
            log.info("%s: %d/%d", label, i, total)
    if tty:
        sys.stderr.write("\n")


def sources(name: str) -> list[Path]:
    """The music21 corpus files of one set (one chorale per bach file, many tunes per folk file)."""
    from music21 import corpus

    paths = [Path(p) for p in corpus.getComposer(SETS[name]["composer"])]
    if name == "bach":
        by_stem: dict[str, Path] = {}
        for p in sorted(paths, key=lambda p: (p.suffix != ".mxl", p.name)):  # prefer MusicXML
            if CHORALE.match(p.stem) and p.stem not in by_stem:
                by_stem[p.stem] = p
        paths = [by_stem[s] for s in sorted(by_stem)]
    else:
        paths = sorted(p for p in paths if p.suffix == ".abc")
    return paths


def score_notes(score) -> list[Note]:
    """A music21 score's sounding notes in beats (ties merged, grace notes dropped).

    Written with mido rather than music21's MIDI writer, which fails on some
    Essen encodings (a duplicated time signature in a part).
    """
    notes = []
    for part_index, part in enumerate(score.parts if score.parts else [score]):
        for n in part.stripTies().flatten().notes:
            length = float(n.duration.quarterLength)
            if length <= 0:
                continue
            start = float(n.offset)
            for p in n.pitches:
                notes.append(Note(int(p.midi), start, start + length, 80, min(part_index, 8)))
    return notes


def _export_one(job: tuple[str, str, str]) -> tuple[list[str], list[str]]:
    """Worker: parse one corpus file, write its piece(s) as MIDI. Returns (written, warnings)."""
    name, src, dest = job
    from music21 import corpus, stream

    src_path = Path(src)
    written, warnings = [], []
    try:
        parsed = corpus.parse(src_path)
    except Exception as err:  # music21 raises many kinds on odd encodings
        return [], [f"{src_path.name}: cannot parse ({type(err).__name__}: {err})"]
    if isinstance(parsed, stream.Opus):
        pieces = [(f"{src_path.stem}-{i + 1:04d}", s) for i, s in enumerate(parsed.scores)]
    else:
        pieces = [(src_path.stem, parsed)]
    if name == "bach":
        pieces = [(stem, s) for stem, s in pieces if 4 <= len(s.parts) <= 6]
        if not pieces:
            return [], [f"{src_path.name}: not a four-part chorale setting"]
    for stem, score in pieces:
        out = Path(dest) / name / f"{stem}.mid"
        try:
            notes = score_notes(score)
            if not notes:
                warnings.append(f"{src_path.name} ({stem}): no notes")
                continue
            notes_to_midi(notes, 100).save(out)
            written.append(str(out))
        except Exception as err:
            warnings.append(f"{src_path.name} ({stem}): cannot write MIDI ({type(err).__name__}: {err})")
    return written, warnings


def export(dest: str | Path, sets: Iterable[str] = DEFAULT_SETS, jobs: int = 2) -> dict:
    """Write the sets' pieces as MIDI under ``dest``/SET/ and a ``corpus.json`` manifest."""
    try:
        import music21
    except ImportError as err:
        raise DataError("the corpus exporter needs music21: pip install 'liveplay[corpus]'") from err
    dest = Path(dest)
    manifest = {"music21": music21.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "sets": {}}
    for name in sets:
        if name not in SETS:
            raise DataError(f"unknown corpus set {name!r}; known: {', '.join(SETS)}")
        (dest / name).mkdir(parents=True, exist_ok=True)
        files = sources(name)
        log.info("%s: %d source file(s) from music21", name, len(files))
        written, skipped = [], []
        work = [(name, str(f), str(dest)) for f in files]
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            for done, warnings in progress(pool.map(_export_one, work), len(work), name):
                written += done
                for w in warnings:
                    log.warning("skipping %s", w)
                skipped += warnings
        manifest["sets"][name] = {**SETS[name], "pieces": len(written), "skipped": len(skipped),
                                  "source_files": len(files), "folder": name}
        log.info("%s: wrote %d piece(s), skipped %d", name, len(written), len(skipped))
    (dest / "corpus.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
