#!/usr/bin/env python3
"""In which key frame a model trains, and in which it is played: how often a piece's first 16
beats are heard in the key of the whole piece.

``train.augment: normalise`` moves every training file by the Krumhansl-Schmuckler key of the
whole piece; ``liveplay evaluate``, and the daemon, move the music by the key heard so far -- a
prime's 16 beats. Where the two differ the model is played music in a frame it did not train in.
For each collection of the bundle's training and validation files (at most ``--most`` of each,
seeded), the share of pieces of at least 32 beats whose prime key gives the same shift as the
whole piece's, and the other shifts' counts (semitones, mod 12: 5 and 7 a fourth or a fifth, 3 and
9 a relative key). A property of the data, not of a model; the test split is not read.

    .venv/bin/python scripts/frame_agreement.py --most 120
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveplay.model.bundle import load_bundle  # noqa: E402
from liveplay.music.keys import tonic_shift  # noqa: E402
from liveplay.offline.evaluate import files_on_disk, load_pieces  # noqa: E402
from liveplay.offline.listening import ANSWER_BEATS, PRIME_BEATS, collection  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/default")
    p.add_argument("--most", type=int, default=120, help="files of each collection at most (seeded draw)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    bundle = load_bundle(args.model, weights=False)
    by: dict[str, list[str]] = defaultdict(list)
    for f in files_on_disk(bundle, "train") + files_on_disk(bundle, "validation"):
        by[collection(f)].append(f)
    rng = np.random.default_rng(args.seed)
    files = [str(f) for c in sorted(by) for f in rng.permutation(by[c])[:args.most]]
    steps = PRIME_BEATS * bundle.grid.steps_per_beat
    moves: dict[str, Counter] = defaultdict(Counter)
    for name, toks in load_pieces(bundle, files):
        if len(toks) >= (PRIME_BEATS + ANSWER_BEATS) * bundle.grid.steps_per_beat:
            moves[collection(name)][(tonic_shift(toks[:steps]) - tonic_shift(toks)) % 12] += 1
    print(f"{'collection':16} {'pieces':>6} {'same frame':>10}  other shifts (semitones: pieces)")
    for c, count in sorted(moves.items()):
        n = sum(count.values())
        others = " ".join(f"{k}: {v}" for k, v in sorted(count.items()) if k)
        print(f"{c:16} {n:6d} {count[0] / n:10.0%}  {others}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
