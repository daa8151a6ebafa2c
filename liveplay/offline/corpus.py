"""Export music21's bundled public-domain collections to MIDI files (the ``corpus`` extra).

Sets (``SETS``; ``liveplay corpus --set NAME``), each written to ``DEST/NAME/*.mid``:

- melody: ``essen`` (the Essen Folksong Collection: German, Chinese and other folk songs) and
  ``oneills`` (O'Neill's Music of Ireland, 1850 tunes), both monophonic;
- harmony: ``bach`` (the chorales and the other Bach works), the string quartets and piano
  music of ``beethoven``, ``mozart``, ``haydn``, ``schubert``, ``schumann_robert``,
  ``schumann_clara``, ``chopin``, ``joplin``, ``cpebach``, the madrigals of ``monteverdi``, the
  ``trecento`` and ``josquin`` polyphony, ``handel`` and ``corelli``;
- outside the training mix (``OUTSIDE_SETS``, exported only when named): ``ryans`` (Ryan's
  Mammoth Collection of fiddle tunes) and ``palestrina`` (mass movements), the collections the
  shipped model is judged on as music it never saw.

The compositions are centuries old and in the public domain; the encodings come with music21
(BSD licensed), which distributes its corpus with the encoders' permission (music21's
``corpus/license.txt``). Roman-numeral analyses (``.rntxt``) are analyses, not the music, and are
left out. A piece that fails to parse or write is skipped with a warning. Exporting a set again
removes the files its earlier export wrote from a source now written under other names (the
Josquin voices, joined: ``pieces_of``), nothing else. ``DEST/corpus.json``
lists, for every set, its title, kind, license and every piece written with its source file.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable

from liveplay.errors import DataError
from liveplay.music.midifile import Note, notes_to_midi
from liveplay.offline.progress import progress

log = logging.getLogger(__name__)

ENCODINGS = "music21 corpus encodings, distributed with music21 by the encoders' permission (music21 corpus/license.txt)"
SETS = {
    "bach": ("bach", "harmony", "J. S. Bach: four-part chorales and other works"),
    "essen": ("essenFolksong", "melody", "Essen Folksong Collection (Schaffrath et al.)"),
    "oneills": ("oneills1850", "melody", "O'Neill's Music of Ireland (1850 tunes, published 1903)"),
    "beethoven": ("beethoven", "harmony", "L. van Beethoven: string quartets and piano sonatas"),
    "mozart": ("mozart", "harmony", "W. A. Mozart: string quartets"),
    "haydn": ("haydn", "harmony", "J. Haydn: string quartets"),
    "monteverdi": ("monteverdi", "harmony", "C. Monteverdi: madrigals"),
    "trecento": ("trecento", "harmony", "Italian trecento polyphony (ballate, madrigals)"),
    "josquin": ("josquin", "harmony", "Josquin des Prez: chansons, a motet section and the Deploration"),
    "schumann_robert": ("schumann_robert", "harmony", "R. Schumann: piano and chamber music"),
    "schumann_clara": ("schumann_clara", "harmony", "C. Schumann: piano music and songs"),
    "chopin": ("chopin", "harmony", "F. Chopin: a mazurka"),
    "joplin": ("joplin", "harmony", "S. Joplin: a rag"),
    "schubert": ("schubert", "harmony", "F. Schubert: a song"),
    "handel": ("handel", "harmony", "G. F. Handel: a piece from an oratorio"),
    "corelli": ("corelli", "harmony", "A. Corelli: a trio sonata movement"),
    "cpebach": ("cpebach", "harmony", "C. P. E. Bach: a keyboard piece"),
    # outside the training mix: music the shipped model never saw, to judge it on
    "ryans": ("ryansMammoth", "melody", "Ryan's Mammoth Collection (1883 fiddle tunes)"),
    "palestrina": ("palestrina", "harmony", "G. P. da Palestrina: mass movements"),
}
OUTSIDE_SETS = ("ryans", "palestrina")  # never trained on: `evaluate` on them is the unseen-collection test
DEFAULT_SETS = tuple(s for s in SETS if s not in OUTSIDE_SETS)  # the training mix of models/default
VOICE_LENGTH_RATIO = 1.1  # voices of one piece end within 10 % of each other (pieces_of)
MUSIC = {".mxl", ".xml", ".musicxml", ".krn", ".abc", ".mid", ".midi"}  # not .rntxt (analyses)


def license_of(name: str) -> str:
    return f"public domain composition(s); {ENCODINGS}"


def sources(name: str) -> list[Path]:
    """The music21 corpus files of one set (a folk file holds many tunes), sorted."""
    from music21 import corpus

    composer = SETS[name][0]
    paths = sorted(Path(p) for p in corpus.getComposer(composer) if Path(p).suffix.lower() in MUSIC)
    by_work: dict[Path, Path] = {}  # a work's path without its suffix (quartets: opus/movement)
    for p in sorted(paths, key=lambda p: (p.suffix != ".mxl", str(p))):  # one encoding per work: MusicXML first
        by_work.setdefault(p.with_suffix(""), p)
    return [by_work[w] for w in sorted(by_work)]


def piece_stem(path: Path) -> str:
    """A work's file name: its path inside the composer's folder, '-' for '/' (opus18no1-movement1)."""
    parts = _relative(path).split("/")[1:] or [path.name]
    return "-".join(parts).rsplit(".", 1)[0]


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


def pieces_of(parsed, stem: str) -> list[tuple[str, object]]:
    """(name, score) of each piece a parsed corpus file holds.

    An opus is usually a book of tunes, one piece each (``stem-0001``, ...). Some part-books are
    encoded as an opus too: every voice of one piece a tune of its own (the Josquin chansons in
    ABC: "Adieu mes amours" as Cantus, Altus, Tenor and Bassus). Those voices are joined into the
    one polyphonic piece they are (``voices_of_one_piece``); written one by one they would be
    melodies, and a split by file would put a piece's other voices in training beside a test voice.
    """
    from music21 import stream

    if not isinstance(parsed, stream.Opus):
        return [(stem, parsed)]
    scores = list(parsed.scores)
    if voices_of_one_piece(scores):
        joined = stream.Score()
        for score in scores:
            joined.insert(0, score.parts[0])
        return [(stem, joined)]
    return [(f"{stem}-{i + 1:04d}", s) for i, s in enumerate(scores)]


def voices_of_one_piece(scores) -> bool:
    """Scores that are the voices of one piece: two or more, one part each, one title, one length
    (within ``VOICE_LENGTH_RATIO``: a canon's voice may end a few bars early). A book of variants
    of one song shares its title too (Essen's ballad80: 93 tunes of "Graf und Nonne") but not a
    length."""
    if len(scores) < 2 or any(len(s.parts) != 1 for s in scores):
        return False
    titles = {(s.metadata.title if s.metadata else None) or None for s in scores}  # "" is no title
    lengths = [float(s.highestTime) for s in scores]
    return len(titles) == 1 and None not in titles and min(lengths) > 0 \
        and max(lengths) / min(lengths) <= VOICE_LENGTH_RATIO


def _export_one(job: tuple[str, str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Worker: parse one corpus file, write its piece(s) as MIDI. Returns ((file, source)s, warnings)."""
    name, src, dest = job
    from music21 import corpus

    src_path = Path(src)
    written, warnings = [], []
    try:
        parsed = corpus.parse(src_path)
    except Exception as err:  # music21 raises many kinds on odd encodings
        return [], [f"{src_path.name}: cannot parse ({type(err).__name__}: {err})"]
    pieces = pieces_of(parsed, piece_stem(src_path))
    source = _relative(src_path)
    for stem, score in pieces:
        out = Path(dest) / name / f"{stem}.mid"
        try:
            notes = score_notes(score)
            if not notes:
                warnings.append(f"{src_path.name} ({stem}): no notes")
                continue
            notes_to_midi(notes, 100).save(out)
            written.append((f"{name}/{out.name}", source))
        except Exception as err:
            warnings.append(f"{src_path.name} ({stem}): cannot write MIDI ({type(err).__name__}: {err})")
    return written, warnings


def _relative(path: Path) -> str:
    """A corpus file's path inside music21's corpus folder (as music21 names it)."""
    parts = path.parts
    return "/".join(parts[parts.index("corpus") + 1:]) if "corpus" in parts else path.name


def export(dest: str | Path, sets: Iterable[str] = DEFAULT_SETS, jobs: int = 2, limit: int | None = None) -> dict:
    """Write the sets' pieces as MIDI under ``dest``/SET/ and a ``corpus.json`` manifest.

    ``limit`` takes only the first N source files of each set (a quick look, or a test).
    """
    try:
        import music21
    except ImportError as err:
        raise DataError("the corpus exporter needs music21: pip install 'liveplay[corpus]'") from err
    dest = Path(dest)
    previous = dest / "corpus.json"  # sets exported earlier into the same folder stay listed
    sets_before = json.loads(previous.read_text(encoding="utf-8")).get("sets", {}) if previous.exists() else {}
    manifest = {"music21": music21.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "sets": sets_before}
    for name in sets:
        if name not in SETS:
            raise DataError(f"unknown corpus set {name!r}; known: {', '.join(SETS)}")
        composer, kind, title = SETS[name]
        (dest / name).mkdir(parents=True, exist_ok=True)
        files = sources(name)[:limit]
        log.info("%s: %d source file(s) from music21", name, len(files))
        written, skipped = [], []
        work = [(name, str(f), str(dest)) for f in files]
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
            for done, warnings in progress(pool.map(_export_one, work), len(work), name):
                written += done
                for w in warnings:
                    log.warning("skipping %s", w)
                skipped += warnings
        earlier = manifest["sets"].get(name, {}).get("files", {})
        redone = {s for _, s in written}  # sources written again now: their old pieces may be stale
        manifest["sets"][name] = {"title": title, "kind": kind, "music21_composer": composer,
                                  "license": license_of(name), "pieces": len(written), "skipped": len(skipped),
                                  "source_files": len(files), "folder": name,
                                  "files": {f: s for f, s in written}}
        log.info("%s: wrote %d piece(s), skipped %d", name, len(written), len(skipped))
        _remove_stale(dest, name, {f for f, s in earlier.items() if s in redone}, manifest["sets"][name]["files"])
    (dest / "corpus.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _remove_stale(dest: Path, name: str, before: Iterable[str], now: Iterable[str]) -> None:
    """Remove the files an earlier export of set ``name`` wrote from a source this one wrote again,
    under another name (voices joined), so training on the folder does not see them twice. A
    source this export did not reach (``--limit``) or could not parse keeps its files. Only MIDI
    files the earlier manifest lists, and only in the set's own folder: anything else is the
    user's."""
    folder = (dest / name).resolve()
    for f in sorted(set(before) - set(now)):
        path = dest / f
        if path.suffix == ".mid" and path.resolve().parent == folder and path.is_file():
            path.unlink()
            log.info("removed %s: an earlier export's piece, not written by this one", path)
