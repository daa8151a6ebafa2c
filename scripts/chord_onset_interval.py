#!/usr/bin/env python3
"""How sure is a chord-onset top-5 comparison? The model against PPM-8, with a 90 % interval.

``liveplay evaluate`` gives each collection's chord-onset top-5 (the share of chord targets in a
predictor's five most likely tokens) for the model and the baselines. Where a collection has few
chord onsets (O'Neill's fiddle tunes: a few dozen double stops in a split) the comparison rests on
a handful of hits. This scores the model (the daemon's engine path, as ``evaluate``) and PPM-8
(fitted on the bundle's training files, as ``evaluate`` fits it) on the same files of a split, and
resamples the **files** with replacement (onsets of one tune are not independent) for a 90 %
interval of the difference, model minus PPM-8. A measurement, not a choice of settings.

    .venv/bin/python scripts/chord_onset_interval.py --split test --collections oneills --most 60
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveplay.config import load_settings  # noqa: E402
from liveplay.model.bundle import load_bundle  # noqa: E402
from liveplay.model.runtime import engine_for  # noqa: E402
from liveplay.music.context import Context, with_start  # noqa: E402
from liveplay.music.tokens import chord_targets  # noqa: E402
from liveplay.offline.evaluate import (at_most, baseline_transpositions, files_on_disk, in_key_frame,  # noqa: E402
                                       key_normalised, load_pieces, load_sequences, training_files)
from liveplay.offline.listening import collection  # noqa: E402
from liveplay.offline.ppm import PPM  # noqa: E402

RESAMPLES = 10_000


def hits(predictions, targets) -> list[int]:
    return [int(t in np.argpartition(p, -5)[-5:]) for p, t in zip(predictions, targets)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/default")
    p.add_argument("--split", default="test", choices=("validation", "test"))
    p.add_argument("--collections", default="oneills")
    p.add_argument("--most", type=int, default=60, help="at most N files a collection, as evaluate --most")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    settings = load_settings()
    bundle = load_bundle(args.model)
    engine = engine_for(bundle, settings.model, "numpy", 1)
    chords = chord_targets(bundle.vocab)
    wanted = set(args.collections.split(","))
    pieces = at_most(load_pieces(bundle, files_on_disk(bundle, args.split), settings.grid.skip_drums), args.most)
    pieces = [(f, t) for f, t in pieces if collection(f) in wanted]
    if key_normalised(bundle):
        pieces = in_key_frame(bundle, pieces)
    seqs = [with_start(bundle.vocab.encode(t)) for _, t in pieces]
    ppm = PPM(8, bundle.architecture.vocab_size).fit(
        load_sequences(bundle, training_files(bundle), settings.grid.skip_drums, baseline_transpositions(bundle)))
    context = Context(engine)
    per_file = []  # (model hits, PPM hits) over each file's chord onsets
    for seq in seqs:
        at = [i for i in range(1, len(seq)) if chords[seq[i]]]
        if not at:
            continue
        context.reset()
        ours = []
        for i in range(1, len(seq)):
            if i in at:
                ours.append(context.distribution())
            if i + 1 < len(seq):
                context.push(seq[i])
        targets = [seq[i] for i in at]
        per_file.append((hits(ours, targets), hits([ppm.distribution(seq[:i]) for i in at], targets)))
    n = sum(len(m) for m, _ in per_file)
    model, base = (sum(sum(x[k]) for x in per_file) / n for k in (0, 1))
    rng = np.random.default_rng(args.seed)
    diffs = []
    for _ in range(RESAMPLES):
        pick = [per_file[j] for j in rng.integers(0, len(per_file), len(per_file))]
        total = sum(len(m) for m, _ in pick)
        diffs.append((sum(sum(m) for m, _ in pick) - sum(sum(b) for _, b in pick)) / max(total, 1))
    lo, hi = np.percentile(diffs, [5, 95])
    print(f"{args.split} {args.collections}: {len(per_file)} files with chord onsets, {n} onsets; chord-onset "
          f"top-5 model {model:.3f}, ppm-8 {base:.3f}; difference {model - base:+.3f}, 90 % interval "
          f"{lo:+.3f} to {hi:+.3f} (files resampled {RESAMPLES} times)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
