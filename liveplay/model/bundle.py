"""The model bundle: a folder that describes itself, loaded without TensorFlow or pickle.

    manifest.json   format version, architecture, step grid, training facts
    vocab.json      the chord vocabulary (tokens.Vocabulary)
    weights.npz     every weight as a plain float32 array (np.load, allow_pickle=False)
    model.keras     the same weights as a Keras model (trainer, TensorFlow runtime, users)
    history.json    per-epoch training figures;  curves.png: the same, drawn

Arrays in weights.npz, for L layers of H units, embedding E, vocabulary V
(Keras' own layouts; gate order i, f, c, o):

    embedding            (V, E)
    lstm{l}.kernel       (E or H, 4H)
    lstm{l}.recurrent    (H, 4H)
    lstm{l}.bias         (4H,)
    dense.kernel         (H, V)
    dense.bias           (V,)
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveplay.errors import BundleError
from liveplay.model.manifest import Architecture, FileSplit, Grid, Manifest, Training
from liveplay.music.midifile import read_tokens
from liveplay.music.tokens import Vocabulary

__all__ = ["Architecture", "Bundle", "FileSplit", "Grid", "Manifest", "Training", "load_bundle", "save_bundle",
           "load_vocab", "save_vocab"]
MANIFEST = "manifest.json"
VOCAB = "vocab.json"
WEIGHTS = "weights.npz"
KERAS = "model.keras"
HISTORY = "history.json"
CURVES = "curves.png"
FILES = {"weights": WEIGHTS, "vocab": VOCAB, "keras": KERAS, "history": HISTORY, "curves": CURVES}  # manifest "files"
# A manifest or vocabulary larger than this is not one, and is refused unread: the shipped manifest
# (11 000 file names) is 0.4 MB, a vocabulary of 100 000 chords of 16 notes 7 MB; 16 MB of JSON
# parses to at most a few hundred MB of Python objects.
MAX_JSON_BYTES = 16 * 1024 * 1024


@dataclass
class Bundle:
    path: Path
    manifest: Manifest
    vocab: Vocabulary
    weights: dict[str, np.ndarray] | None  # None when loaded without weights

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def architecture(self) -> Architecture:
        return self.manifest.architecture

    @property
    def grid(self) -> Grid:
        return self.manifest.grid

    def encode_file(self, path: str | Path, skip_drums: bool = True, vocab: Vocabulary | None = None) -> list[int]:
        """A MIDI file on this model's grid as token ids of ``vocab`` (default: the model's; chords
        outside it mapped to the nearest); MidiFileError names a file that cannot be read."""
        g = self.grid
        return (vocab or self.vocab).encode(read_tokens(path, g.steps_per_beat, g.max_notes, skip_drums, g.voicing))


def load_bundle(path: str | Path, weights: bool = True) -> Bundle:
    """Read and check a bundle, every value before any allocation; every problem names its file."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(path, "no such model bundle folder")
    manifest = read_manifest(path)
    arch, grid = manifest.architecture, manifest.grid
    vocab = load_vocab(path / VOCAB, grid.max_notes, grid.voicing)
    if len(vocab) != arch.vocab_size:
        raise BundleError(path / VOCAB, f"holds {len(vocab)} tokens but the manifest says "
                                        f"vocab_size {arch.vocab_size}")
    arrays = load_weights(path / WEIGHTS, arch) if weights else None
    return Bundle(path, manifest, vocab, arrays)


def read_manifest(path: Path) -> Manifest:
    """The bundle folder's manifest.json as a Manifest, every value checked (BundleError names the key)."""
    mpath = Path(path) / MANIFEST
    try:
        size = mpath.stat().st_size
        if size > MAX_JSON_BYTES:
            raise BundleError(mpath, f"{size} bytes: a manifest is at most {MAX_JSON_BYTES}")
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise BundleError(mpath, "missing: not a liveplay model bundle") from err
    except (OSError, ValueError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BundleError(mpath, f"not readable JSON: {err}") from err
    return Manifest.from_json(data, mpath)


def load_vocab(path: Path, max_notes: int | None = None, voicing: str | None = None) -> Vocabulary:
    """The vocabulary file; with ``max_notes`` (and ``voicing``), chords and the file's own
    max_notes (and voicing) must fit it."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_JSON_BYTES:
            raise BundleError(path, f"{size} bytes: a vocabulary is at most {MAX_JSON_BYTES}")
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BundleError(path, f"cannot read the vocabulary: {err}") from err
    try:
        vocab = Vocabulary.from_json(data)
    except ValueError as err:
        raise BundleError(path, f"bad vocabulary: {err}") from err
    if max_notes is not None:
        if vocab.max_notes != max_notes:
            raise BundleError(path, f"max_notes {vocab.max_notes} differs from the manifest's {max_notes}")
        if voicing is not None and vocab.voicing != voicing:
            raise BundleError(path, f"voicing {vocab.voicing!r} differs from the manifest's {voicing!r}")
        widest = max((len(c) for c in vocab.chords), default=0)
        if widest > max_notes:
            raise BundleError(path, f"a chord of {widest} notes, but max_notes is {max_notes}")
    return vocab


def save_vocab(vocab: Vocabulary, path: Path) -> None:
    Path(path).write_text(json.dumps(vocab.to_json(), indent=1) + "\n", encoding="utf-8")


def array_headers(wpath: Path) -> dict[str, tuple[tuple[int, ...], np.dtype, int]]:
    """Each array's (shape, dtype, bytes of data its zip member holds) from its .npy header in the
    .npz, reading no array data."""
    headers = {}
    with zipfile.ZipFile(wpath) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"{info.filename}: not an array")
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"{info.filename}: .npy format {version}")
                held = info.file_size - f.tell()  # the member's size as the zip directory gives it
            if dtype.hasobject:
                raise ValueError(f"{info.filename}: object arrays (pickled data) are refused")
            headers[info.filename[:-4]] = (tuple(shape), dtype, held)
    return headers


def load_weights(wpath: Path, arch: Architecture) -> dict[str, np.ndarray]:
    """The .npz arrays, checked against the architecture's shapes -- from the headers, before any
    array is read or allocated -- and then for finiteness; never unpickles."""
    expected = arch.weight_shapes()
    try:
        headers = array_headers(wpath)
    except FileNotFoundError as err:
        raise BundleError(wpath, "missing") from err
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise BundleError(wpath, f"not a readable .npz file: {err}") from err
    missing = sorted(set(expected) - set(headers))
    extra = sorted(set(headers) - set(expected))
    if missing or extra:
        raise BundleError(wpath, f"arrays do not fit the manifest (missing {missing}, unexpected {extra})")
    for name, shape in expected.items():
        declared, dtype, held = headers[name]
        if declared != shape:
            raise BundleError(wpath, f"array '{name}' has shape {declared}, the manifest implies {shape}")
        if dtype.kind != "f":
            raise BundleError(wpath, f"array '{name}' has dtype {dtype}, expected floats")
        need = int(np.prod(shape)) * dtype.itemsize
        if held != need:  # a truncated or padded member, found before np.load allocates the array
            raise BundleError(wpath, f"array '{name}' of shape {shape} needs {need} bytes of data, its member "
                                     f"holds {held}")
    try:
        with np.load(wpath, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in expected}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise BundleError(wpath, f"not a readable .npz file: {err}") from err
    for name, a in arrays.items():
        if not np.isfinite(a).all():
            raise BundleError(wpath, f"array '{name}' holds NaN or infinite values")
        arrays[name] = np.ascontiguousarray(a, dtype=np.float32)
    return arrays


def save_bundle(path: Path, manifest: Manifest, vocab: Vocabulary, weights: dict[str, np.ndarray]) -> None:
    """Write arrays, vocabulary and manifest (the trainer adds model.keras, history, curves).

    Each file is written beside its place and renamed over it, the manifest last, so a trainer
    killed while checkpointing leaves the previous bundle or the new one, never a torn file.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    shapes = manifest.architecture.weight_shapes()
    for name, shape in shapes.items():
        if weights[name].shape != shape:
            raise ValueError(f"weight {name} has shape {weights[name].shape}, expected {shape}")
    with replacing(path / WEIGHTS) as tmp, open(tmp, "wb") as f:
        np.savez(f, **{k: np.asarray(weights[k], dtype=np.float32) for k in shapes})
    with replacing(path / VOCAB) as tmp:
        save_vocab(vocab, tmp)
    with replacing(path / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")


@contextlib.contextmanager
def replacing(path: Path):
    """A temporary name beside ``path``; on success it is renamed over ``path`` (atomic on POSIX)."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # the suffix kept: Keras wants its .keras
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
