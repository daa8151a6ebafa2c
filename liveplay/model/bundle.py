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

import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from liveplay.errors import BundleError
from liveplay.music.midifile import read_tokens
from liveplay.music.tokens import Vocabulary

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VOCAB = "vocab.json"
WEIGHTS = "weights.npz"
KERAS = "model.keras"
HISTORY = "history.json"
CURVES = "curves.png"


@dataclass(frozen=True)
class Architecture:
    vocab_size: int
    embedding: int
    hidden: int
    layers: int
    dropout: float = 0.0

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        v, e, h = self.vocab_size, self.embedding, self.hidden
        shapes = {"embedding": (v, e)}
        for layer in range(self.layers):
            shapes[f"lstm{layer}.kernel"] = (e if layer == 0 else h, 4 * h)
            shapes[f"lstm{layer}.recurrent"] = (h, 4 * h)
            shapes[f"lstm{layer}.bias"] = (4 * h,)
        shapes["dense.kernel"] = (h, v)
        shapes["dense.bias"] = (v,)
        return shapes

    def parameter_count(self) -> int:
        return int(sum(np.prod(s) for s in self.weight_shapes().values()))


@dataclass(frozen=True)
class Grid:
    steps_per_beat: int
    max_notes: int
    context_length: int


@dataclass
class Bundle:
    path: Path
    manifest: dict
    architecture: Architecture
    grid: Grid
    vocab: Vocabulary
    weights: dict[str, np.ndarray] | None  # None when loaded without weights

    @property
    def name(self) -> str:
        return self.path.name

    def encode_file(self, path: str | Path, skip_drums: bool = True) -> list[int]:
        """A MIDI file on this model's grid as its token ids (chords outside the vocabulary
        mapped to the nearest); MidiFileError names a file that cannot be read."""
        g = self.grid
        return self.vocab.encode(read_tokens(path, g.steps_per_beat, g.max_notes, skip_drums))


def load_bundle(path: str | Path, weights: bool = True) -> Bundle:
    """Read and check a bundle; every problem names the file it is in."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(path, "no such model bundle folder")
    manifest = read_manifest(path)
    mpath = path / MANIFEST
    try:
        arch = Architecture(**manifest["architecture"])
        grid = Grid(**manifest["grid"])
    except (KeyError, TypeError) as err:
        raise BundleError(mpath, f"bad 'architecture' or 'grid' section: {err}") from err
    vocab = load_vocab(path / VOCAB)
    if len(vocab) != arch.vocab_size:
        raise BundleError(path / VOCAB, f"holds {len(vocab)} tokens but the manifest says "
                                        f"vocab_size {arch.vocab_size}")
    if vocab.max_notes != grid.max_notes:
        raise BundleError(path / VOCAB, f"max_notes {vocab.max_notes} differs from the manifest's "
                                        f"{grid.max_notes}")
    arrays = load_weights(path / WEIGHTS, arch) if weights else None
    return Bundle(path, manifest, arch, grid, vocab, arrays)


def read_manifest(path: Path) -> dict:
    mpath = Path(path) / MANIFEST
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise BundleError(mpath, "missing: not a liveplay model bundle") from err
    except (OSError, ValueError) as err:
        raise BundleError(mpath, f"not readable JSON: {err}") from err
    if not isinstance(manifest, dict):
        raise BundleError(mpath, "must hold a JSON object")
    version = manifest.get("format")
    if version != FORMAT_VERSION:
        raise BundleError(mpath, f"bundle format {version!r}; this liveplay reads format {FORMAT_VERSION}")
    return manifest


def load_vocab(path: Path) -> Vocabulary:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BundleError(path, f"cannot read the vocabulary: {err}") from err
    try:
        return Vocabulary.from_json(data)
    except ValueError as err:
        raise BundleError(path, f"bad vocabulary: {err}") from err


def save_vocab(vocab: Vocabulary, path: Path) -> None:
    Path(path).write_text(json.dumps(vocab.to_json(), indent=1) + "\n", encoding="utf-8")


def load_weights(wpath: Path, arch: Architecture) -> dict[str, np.ndarray]:
    """The .npz arrays, checked against the architecture's shapes; never unpickles."""
    expected = arch.weight_shapes()
    try:
        with np.load(wpath, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError as err:
        raise BundleError(wpath, "missing") from err
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise BundleError(wpath, f"not a readable .npz file: {err}") from err
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        raise BundleError(wpath, f"arrays do not fit the manifest (missing {missing}, unexpected {extra})")
    for name, shape in expected.items():
        a = arrays[name]
        if a.shape != shape:
            raise BundleError(wpath, f"array '{name}' has shape {a.shape}, the manifest implies {shape}")
        if a.dtype.kind != "f":
            raise BundleError(wpath, f"array '{name}' has dtype {a.dtype}, expected floats")
        if not np.isfinite(a).all():
            raise BundleError(wpath, f"array '{name}' holds NaN or infinite values")
        arrays[name] = np.ascontiguousarray(a, dtype=np.float32)
    return arrays


def save_bundle(path: Path, manifest: dict, vocab: Vocabulary, weights: dict[str, np.ndarray],
                arch: Architecture) -> None:
    """Write manifest, vocabulary and arrays (the trainer adds model.keras, history, curves)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    shapes = arch.weight_shapes()
    for name, shape in shapes.items():
        if weights[name].shape != shape:
            raise ValueError(f"weight {name} has shape {weights[name].shape}, expected {shape}")
    np.savez(path / WEIGHTS, **{k: np.asarray(weights[k], dtype=np.float32) for k in shapes})
    save_vocab(vocab, path / VOCAB)
    manifest = dict(manifest, format=FORMAT_VERSION, architecture=asdict(arch))
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
