"""A trained bundle on a new chord vocabulary, as the start of further training.

``liveplay train`` resumes a bundle only on the vocabulary it was trained with. When the chord
shapes change (``grid.max_notes``, ``grid.voicing``) or the vocabulary grows, training from
scratch would throw away what the network learned about melody, rhythm and key. ``grow`` keeps
it: the new vocabulary is built from the bundle's own training files as the in-memory trainer
would build it (``augment: normalise`` or ``all``) (so ``liveplay train`` resumes the result unchanged), and each new chord starts
as the old chord it maps to (``Vocabulary.encode_token``: itself where the old vocabulary holds
it, else the nearest):

- its embedding row is that chord's;
- its output unit has that chord's weights, and a bias that splits that chord's probability
  among the new chords mapped to it by their training counts: ``b_new = b_old + log(n / N)``.
  Summed over those chords the grown model gives, before any training, the old model's
  probabilities renormalised over the old chords some new chord maps to (REST and HOLD keep
  their own);
- the LSTM layers are copied.

The result is a bundle with no epochs run (``liveplay train`` on its folder goes on from it),
its split the old one's, ``training.fine_tuned_from`` naming where it came from.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from liveplay.model.bundle import Bundle, Grid, save_bundle
from liveplay.model.keyframe import key_normalised
from liveplay.model.manifest import Architecture, Manifest
from liveplay.music.midifile import load_token_files
from liveplay.music.tokens import FIRST_CHORD_ID, Vocabulary
from liveplay.offline.evaluate import files_on_disk
from liveplay.offline.memory import in_reference_key, transposed_copies
from liveplay.offline.progress import progress

log = logging.getLogger(__name__)


def grown_arrays(old: Bundle, vocab: Vocabulary) -> dict[str, np.ndarray]:
    """``old``'s weights for ``vocab`` (module docstring); ``vocab`` must carry chord counts."""
    source = np.array([old.vocab.encode_token(c) for c in vocab.chords], dtype=np.int64)  # (V_new - 2,)
    ids = np.concatenate([[0, 1], source])  # new id -> old id; REST, HOLD are themselves
    counts = np.concatenate([[1.0, 1.0], np.maximum(np.asarray(vocab.counts, dtype=np.float64), 1.0)])
    totals = np.zeros(len(old.vocab))
    np.add.at(totals, ids, counts)
    arrays = {k: v.copy() for k, v in old.weights.items()}
    arrays["embedding"] = old.weights["embedding"][ids]
    arrays["dense.kernel"] = old.weights["dense.kernel"][:, ids]
    arrays["dense.bias"] = (old.weights["dense.bias"][ids] + np.log(counts / totals[ids])).astype(np.float32)
    return arrays


def grow(old: Bundle, out: str | Path, max_notes: int, voicing: str, size: int, skip_drums: bool = True) -> Manifest:
    """Write ``old`` grown onto a vocabulary of ``size`` chords of ``max_notes`` notes cut by
    ``voicing`` into the folder ``out``; returns its manifest."""
    out = Path(out)
    augment = old.manifest.training.settings.get("augment", "all")
    if old.manifest.kind != "single" or augment not in ("normalise", "all"):
        raise ValueError(f"{old.path}: growing a {old.manifest.kind} bundle trained with augment {augment!r} is not "
                         "supported (single-stream bundles with augment normalise or all)")
    if not 1 <= max_notes <= 16 or size < 1:
        raise ValueError(f"max_notes must be 1..16 and size at least 1 (got {max_notes}, {size})")
    train = files_on_disk(old, "train")  # a data folder exported again may have renamed a few
    if not train:
        raise ValueError(f"{old.path}: none of the training files its manifest lists is on disk to build a "
                         "vocabulary from")
    grid = Grid(old.grid.steps_per_beat, max_notes, old.grid.context_length, voicing)
    loaded = load_token_files(train, grid.steps_per_beat, max_notes, skip_drums,
                              progress, voicing=voicing)
    if key_normalised(old):  # as memory.memory_data builds it: each file in C, or every transposed copy
        sequences = [in_reference_key(toks) for _, toks in loaded]
    else:
        sequences = [c[0] for _, toks in loaded for c in transposed_copies((toks,), old.manifest.training.transpose)]
    vocab = Vocabulary.build(sequences, size, max_notes, voicing=voicing)
    exact = sum(old.vocab.contains(c) for c in vocab.chords)
    log.info("%d chords (%d of them in %s's vocabulary, the rest start as the nearest one there)",
             len(vocab.chords), exact, old.name)
    a = old.architecture
    arch = Architecture(len(vocab), a.embedding, a.hidden, a.layers, a.dropout)
    t = old.manifest.training
    training = dataclasses.replace(
        t, epochs_run=0, best_epoch=0, best={}, windows={}, tokens={}, vocabulary_coverage={},
        fine_tuned_from=f"{old.path} (grown from {len(old.vocab) - FIRST_CHORD_ID} to {len(vocab.chords)} chords of "
                        f"at most {max_notes} notes, voicing {voicing})",
        outside_vocabulary=None)
    manifest = dataclasses.replace(old.manifest, name=out.name, architecture=arch, grid=grid, training=training)
    save_bundle(out, manifest, vocab, grown_arrays(old, vocab))
    return manifest
