"""`liveplay prepare`: MIDI folders -> a prepared folder of versioned `.npz` shards and a manifest.

Layout of a prepared folder (``prepared.json`` marks it)::

    prepared.json          format, grid, the data settings, vocabulary, by-file split, counts,
                           every file's key (size, mtime) and every skipped file with its reason
    raw/<key>.npz          one per MIDI file: its steps as local ids (0 REST, 1 HOLD, 2+j: chord j)
                           and its chord table (K, max_notes) padded with -1 -- the tokenised file,
                           independent of any vocabulary
    shards/<split>-NNNNN.npz  windows of whole files: x (N, context_length + 1) int32 ids,
                           w (N, context_length) uint8 weights (0 on padding), folder (N,) int32

Tokenising is the slow part and runs in worker processes; a file whose path, size and mtime are
unchanged is not read again. The vocabulary and the split depend on every file, so the window
shards are rebuilt from the raw files whenever a file comes or goes or a data setting changes
(cheap: array lookups, no MIDI parsing). Everything is loaded with ``allow_pickle=False``.

The vocabulary, the split, the windows and the augmentation copies follow ``offline.train``'s
in-memory rules exactly (``dataset.split_files``, ``Vocabulary`` counts with the same shifts,
``music.context.with_start``, ``dataset.windows_with_sources``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from liveplay.config import Settings
from liveplay.errors import DataError, MidiFileError, UsageError
from liveplay.music.context import with_start
from liveplay.music.keys import tonic_shift
from liveplay.music.midifile import find_midi_files, read_tokens
from liveplay.music.tokens import HOLD, REST, Vocabulary
from liveplay.offline.dataset import split_files, windows_with_sources

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "prepared.json"
SPLITS = ("train", "validation", "test")
TOKENISE_KEYS = ("steps_per_beat", "max_notes", "voicing", "skip_drums")  # a change re-reads every file


def is_prepared(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


def data_settings(settings: Settings) -> dict:
    """The settings a prepared folder is made with (a change rebuilds the window shards)."""
    g, t, p = settings.grid, settings.train, settings.prepare
    return {"steps_per_beat": g.steps_per_beat, "max_notes": g.max_notes, "voicing": g.voicing,
            "skip_drums": g.skip_drums,
            "context_length": g.context_length, "vocab_size": g.vocab_size, "transpose": list(t.transpose),
            "augment": t.augment, "window_stride": t.window_stride, "validation_fraction": t.validation_fraction,
            "validation_min": t.validation_min, "test_fraction": t.test_fraction, "split_seed": t.split_seed,
            "shard_windows": p.shard_windows}


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable prepared-data manifest ({err})") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise DataError(f"{path}: prepared-data format {data.get('format') if isinstance(data, dict) else '?'}; "
                        f"this liveplay reads format {FORMAT_VERSION} (run liveplay prepare again)")
    for section in ("settings", "grid"):  # folders prepared before voicings kept the highest notes
        if isinstance(data.get(section), dict):
            data[section].setdefault("voicing", "highest")
    if isinstance(data.get("settings"), dict):  # and before train.validation_min: the share alone
        data["settings"].setdefault("validation_min", 0)
    return data


def load_shard(path: str | Path) -> dict[str, np.ndarray]:
    """A window shard's arrays (never pickle)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def vocabulary(manifest: dict) -> Vocabulary:
    v = manifest["vocabulary"]
    s = manifest["settings"]
    return Vocabulary([tuple(c) for c in v["chords"]], s["max_notes"], v["counts"], s["voicing"])


# -- tokenising (worker processes) ------------------------------------------------------------


def _raw_name(name: str) -> str:
    return hashlib.sha1(name.encode("utf-8")).hexdigest()[:20] + ".npz"


def _tokenise(job: tuple[str, str, int, int, str, bool]) -> tuple[str, int | None, str | None]:
    """One file -> raw/<key>.npz; (name, steps, None) or (name, None, reason). Runs in a worker."""
    name, target, steps_per_beat, max_notes, voicing, skip_drums = job
    try:
        tokens = read_tokens(name, steps_per_beat, max_notes, skip_drums, voicing)
    except MidiFileError as err:
        return name, None, err.reason
    table: dict[tuple, int] = {}
    steps = np.empty(len(tokens), dtype=np.int32)  # (T,) 0 REST, 1 HOLD, 2 + chord index
    for i, tok in enumerate(tokens):
        steps[i] = 0 if tok == REST else 1 if tok == HOLD else 2 + table.setdefault(tuple(tok), len(table))
    chords = np.full((len(table), max_notes), -1, dtype=np.int16)  # (K, max_notes)
    for chord, j in table.items():
        chords[j, : len(chord)] = chord
    _save(Path(target), steps=steps, chords=chords)
    return name, len(tokens), None


def _save(path: Path, **arrays) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _load_raw(path: Path, augment: str = "") -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """A file's step ids (0 REST, 1 HOLD, 2.. its chords) and chords; with ``augment: normalise``
    the chords moved to a tonic of C by the file's own key, as the in-memory trainer does."""
    with np.load(path, allow_pickle=False) as z:
        steps, chords = z["steps"], z["chords"]
    chords = [tuple(int(p) for p in row if p >= 0) for row in chords]
    if augment == "normalise":
        tokens = [REST if i == 0 else HOLD if i == 1 else chords[i - 2] for i in steps.tolist()]
        shift = tonic_shift(tokens)
        if all(c[0] + shift >= 0 and c[-1] + shift <= 127 for c in chords):
            chords = [tuple(p + shift for p in c) for c in chords]
    return steps, chords


# -- prepare ----------------------------------------------------------------------------------


def prepare(data: Sequence[str | Path], out: str | Path, settings: Settings, jobs: int | None = None) -> dict:
    """Tokenise what is new in ``data`` into ``out`` and rebuild the window shards; the manifest."""
    if settings.train.kind == "duet":
        raise UsageError("train.kind: duet is not supported by liveplay prepare yet: train a duet model on "
                         "the MIDI files themselves (liveplay train FILES/FOLDERS)")
    if settings.train.augment == "frame":
        raise UsageError("train.augment: frame moves each step by the key heard before it, which a prepared "
                         "folder's chord table cannot hold: train on the MIDI files themselves "
                         "(liveplay train FILES/FOLDERS), or use augment: normalise")
    out = Path(out)
    ds = data_settings(settings)
    jobs = jobs or settings.prepare.jobs or os.cpu_count() or 1
    old = read_manifest(out) if is_prepared(out) else None
    same_tokens = old is not None and all(old["settings"].get(k) == ds[k] for k in TOKENISE_KEYS)
    known = {f["name"]: f for f in old["files"] + old["skipped"]} if same_tokens else {}
    (out / "raw").mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(exist_ok=True)

    files, skipped, todo = [], [], []
    for path in find_midi_files(data):
        name, st = str(path), path.stat()
        entry = {"name": name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "raw": _raw_name(name),
                 "folder": path.parent.name}
        prior = known.get(name)
        unchanged = prior and prior.get("size") == entry["size"] and prior.get("mtime_ns") == entry["mtime_ns"]
        if unchanged and "reason" in prior:
            skipped.append(prior)  # known to be unreadable, and the file is the same
        elif unchanged and (out / "raw" / prior["raw"]).is_file():
            files.append(prior)
        else:
            todo.append(entry)
    done = {}
    if todo:
        log.info("tokenising %d file(s) in %d process(es) (%d unchanged)", len(todo), min(jobs, len(todo)),
                 len(files))
        job_args = [(e["name"], str(out / "raw" / e["raw"]), ds["steps_per_beat"], ds["max_notes"],
                     ds["voicing"], ds["skip_drums"]) for e in todo]
        if jobs > 1 and len(todo) > 1:
            with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
                results = list(pool.map(_tokenise, job_args, chunksize=max(1, len(todo) // (4 * jobs))))
        else:
            results = [_tokenise(a) for a in job_args]
        done = {name: (steps, reason) for name, steps, reason in results}
    for entry in todo:
        steps, reason = done[entry["name"]]
        if reason is not None:
            log.warning("skipping %s: %s", entry["name"], reason)
            skipped.append({"name": entry["name"], "size": entry["size"], "mtime_ns": entry["mtime_ns"],
                            "reason": reason})
        else:
            files.append(dict(entry, steps=steps))
    files.sort(key=lambda f: f["name"])
    if not files:
        raise DataError(f"no usable MIDI file in {', '.join(map(str, data))} ({len(skipped)} skipped)")
    _remove_stale_raw(out, files)

    newly_skipped = sum(1 for e in todo if done[e["name"]][1] is not None)
    tokenised = len(todo) - newly_skipped
    counts = {"files": len(files), "tokenised": tokenised, "unchanged": len(files) - tokenised,
              "skipped": len(skipped)}
    skipped.sort(key=lambda f: f["name"])
    changed = bool(todo) or old is None or old.get("settings") != ds or \
        [f["name"] for f in old["files"]] != [f["name"] for f in files]
    if not changed:
        log.info("%s is up to date (%d files)", out, len(files))
        old["counts"] = dict(old["counts"], **counts)
        _write_manifest(out, old)
        return old
    manifest = _build_shards(out, files, ds)
    manifest.update(format=FORMAT_VERSION, kind="liveplay-prepared", settings=ds, files=files, skipped=skipped)
    manifest["counts"] = dict(counts, **manifest.pop("counts"))
    _write_manifest(out, manifest)
    log.info("prepared %s: %d files (%d tokenised now, %d skipped), %d train and %d validation windows in "
             "%d shard(s)", out, len(files), counts["tokenised"], len(skipped), manifest["counts"]["windows"]["train"],
             manifest["counts"]["windows"]["validation"], sum(len(v) for v in manifest["shards"].values()))
    return manifest


def _remove_stale_raw(out: Path, files: list[dict]) -> None:
    keep = {f["raw"] for f in files}
    for p in (out / "raw").glob("*.npz"):
        if p.name not in keep:
            p.unlink()


def _write_manifest(out: Path, manifest: dict) -> None:
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / MANIFEST)  # last: a folder with a manifest is whole


def _shifts(ds: dict) -> list[int]:
    t = ds["transpose"]
    return list(range(min(t), max(t) + 1)) if t else [0]


def _build_shards(out: Path, files: list[dict], ds: dict) -> dict:
    """Split, vocabulary and window shards from the raw files (the in-memory trainer's rules)."""
    split = split_files([f["name"] for f in files], ds["validation_fraction"], ds["test_fraction"], ds["split_seed"],
                        ds["validation_min"])
    by_name = {f["name"]: f for f in files}
    shifts = _shifts(ds)
    found: Counter = Counter()  # chord onsets of the training copies (the vocabulary's counts)
    for name in split.train:
        steps, chords = _load_raw(out / "raw" / by_name[name]["raw"], ds["augment"])
        per_chord = np.bincount(steps, minlength=len(chords) + 2)[2:]  # (K,)
        if ds["augment"] in ("random", "normalise"):  # one copy of each file
            found.update({c: int(n) for c, n in zip(chords, per_chord) if n})
        else:  # every copy that fits, each counted as a file of its own (music.tokens.augment)
            for s in _copies(chords, ds["transpose"]):
                found.update({tuple(p + s for p in c): int(n) for c, n in zip(chords, per_chord) if n})
    vocab = Vocabulary.from_counts(found, ds["vocab_size"], ds["max_notes"],
                                   shifts if ds["augment"] == "random" else (0,), ds["voicing"])
    folders = sorted({f["folder"] for f in files})
    for old in (out / "shards").glob("*.npz"):
        old.unlink()
    shards, windows, tokens, coverage, by_folder = {}, {}, {}, {}, Counter()
    for part, names in split.as_dict().items():
        writer = _ShardWriter(out / "shards", part, ds["shard_windows"])
        chords_seen = chords_in = steps_total = 0
        for name in names:
            steps, chords = _load_raw(out / "raw" / by_name[name]["raw"], ds["augment"])
            steps_total += len(steps)
            per_chord = np.bincount(steps, minlength=len(chords) + 2)[2:]
            chords_seen += int(per_chord.sum())
            chords_in += int(sum(n for c, n in zip(chords, per_chord) if vocab.contains(c)))
            if part == "test":
                continue  # the test split is never trained on: no windows
            moves = _copies(chords, ds["transpose"]) if part == "train" and ds["augment"] == "all" else [0]
            seqs = []
            for s in moves:
                lut = np.array([0, 1] + [vocab.encode_token(tuple(p + s for p in c)) for c in chords], np.int32)
                seqs.append(with_start(lut[steps].tolist()))
            x, w, _ = windows_with_sources(seqs, ds["context_length"], ds["window_stride"])
            folder = folders.index(by_name[name]["folder"])
            if part == "train":
                by_folder[by_name[name]["folder"]] += len(x)
            writer.add(x, w, np.full(len(x), folder, np.int32))
        shards[part] = writer.close() if part != "test" else []
        windows[part] = writer.windows
        tokens[part] = steps_total
        if steps_total:
            coverage[part] = {"chords": round(chords_in / chords_seen, 4) if chords_seen else 1.0,
                              "tokens": round(1 - (chords_seen - chords_in) / steps_total, 4)}
    del windows["test"]
    return {"grid": {"steps_per_beat": ds["steps_per_beat"], "max_notes": ds["max_notes"],
                     "context_length": ds["context_length"], "voicing": ds["voicing"]},
            "vocabulary": {"chords": [list(c) for c in vocab.chords], "counts": vocab.counts},
            "split": split.as_dict(), "folders": folders, "shards": shards,
            "counts": {"windows": windows, "tokens": tokens, "train_windows_by_folder": dict(by_folder)},
            "vocabulary_coverage": coverage}


def _copies(chords: list[tuple[int, ...]], transpose: Sequence[int]) -> list[int]:
    """The transpositions of a file that fit 0..127 as a whole (music.tokens.augment's rule)."""
    lo, hi = (min(transpose), max(transpose)) if transpose else (0, 0)
    low = min((c[0] for c in chords), default=60)
    high = max((c[-1] for c in chords), default=60)
    return [s for s in range(lo, hi + 1) if low + s >= 0 and high + s <= 127]


class _ShardWriter:
    """Windows of whole files, gathered until ``size`` windows, then one ``.npz`` shard."""

    def __init__(self, folder: Path, part: str, size: int):
        self.folder, self.part, self.size = folder, part, size
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.written: list[dict] = []
        self.windows = 0

    def add(self, x: np.ndarray, w: np.ndarray, folder: np.ndarray) -> None:
        if len(x):
            self.pending.append((x, w, folder))
            self.windows += len(x)
        if sum(len(p[0]) for p in self.pending) >= self.size:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        name = f"{self.part}-{len(self.written):05d}.npz"
        x = np.concatenate([p[0] for p in self.pending])  # (N, L + 1) int32
        w = np.concatenate([p[1] for p in self.pending]).astype(np.uint8)  # (N, L)
        folder = np.concatenate([p[2] for p in self.pending])  # (N,)
        _save(self.folder / name, x=x, w=w, folder=folder)
        self.written.append({"file": name, "windows": int(len(x))})
        self.pending = []

    def close(self) -> list[dict]:
        self._flush()
        return self.written
