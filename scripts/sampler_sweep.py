#!/usr/bin/env python3
"""Choose the sampler's settings by measurement, on the validation split (never the test split).

For each setting given (``--set KEY=V1,V2,...`` over ``sampler.*``), on the model's validation
files (at most ``--most`` of each collection, the same files every time): the listening figures
of 16-beat continuations (key agreement, pitch-class cosine, chord share, IOI overlap; next to
the data's own), and the medians of ``--generations`` continuations of ``--steps`` from silence
(distinct-4, HOLD and REST shares, repetition rate) next to the validation files' own figures.

    .venv/bin/python scripts/sampler_sweep.py --model models/default \\
        --set min_temperature=0.2,0.5,0.7,1.0 --most 60 --generations 6 --json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveplay.config import load_settings  # noqa: E402
from liveplay.model.bundle import load_bundle  # noqa: E402
from liveplay.model.runtime import engine_for, keeper_for  # noqa: E402
from liveplay.music.context import with_start  # noqa: E402
from liveplay.music.sampler import Sampler  # noqa: E402
from liveplay.offline.evaluate import (at_most, data_stats, files_on_disk, generation_stats, in_key_frame,  # noqa: E402
                                       key_normalised, load_pieces)
from liveplay.offline.generate import generate  # noqa: E402
from liveplay.offline.listening import listening  # noqa: E402

KEYS = ("key_agreement_model", "key_agreement_data", "pc_cosine_model", "pc_cosine_data",
        "chord_share_model", "chord_share_data", "ioi_overlap")
GEN = ("distinct_4", "hold_share", "rest_share", "repetition_rate")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/default")
    p.add_argument("--config", help="settings file on top of config.yaml (the sampler's base)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=V1,V2",
                   help="a sampler setting and the values to try (repeatable: every combination)")
    p.add_argument("--most", type=int, default=60, help="validation files per collection (60)")
    p.add_argument("--generations", type=int, default=6)
    p.add_argument("--steps", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--answers", type=int, default=4, help="continuations a prime, as liveplay evaluate (4)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    settings = load_settings(args.config)
    bundle = load_bundle(args.model)
    engine = engine_for(bundle, settings.model, "numpy", settings.engine_threads)
    keeper = keeper_for(bundle, bundle.vocab, engine, settings.model.key_keeping)
    files = files_on_disk(bundle, "validation")
    pieces = at_most(load_pieces(bundle, files, settings.grid.skip_drums), args.most)
    if key_normalised(bundle):
        pieces = in_key_frame(bundle, pieces)
    data = data_stats([with_start(bundle.vocab.encode(t)) for _, t in pieces], args.steps,
                      settings.sampler.repeat_lengths)

    grid = [{}]
    for item in args.sets:
        key, _, values = item.partition("=")
        grid = [{**g, key: float(v)} for g in grid for v in values.split(",")]
    rows = []
    for combo in grid:
        sampler = replace(settings.sampler, **combo)
        heard = listening(bundle, engine, sampler, pieces, seed=args.seed, answers=args.answers,
                          keeper=keeper)["all"]
        runs = [generation_stats(generate(bundle, engine, Sampler(sampler, seed=args.seed + i), args.steps).ids,
                                 None, sampler.repeat_lengths) for i in range(args.generations)]
        gen = {k: round(float(np.median([r[k] for r in runs])), 4) for k in GEN}
        rows.append({"setting": combo, **{k: heard[k] for k in KEYS}, **gen})
        if not args.json:
            print(combo, {k: heard[k] for k in KEYS}, gen, flush=True)
    report = {"model": args.model, "pieces": len(pieces), "validation_data": {k: data[k] for k in GEN},
              "rows": rows}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("validation data:", report["validation_data"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
