#!/usr/bin/env python3
"""The accompanist's ear (``model/harmony.py``) chosen on a duet model's validation split, never the test split.

1. **Likelihood.** Every validation piece (moved by its melody's first beats, as ``evaluate``
   does) is read through the exact engine; at each of liveplay's positions the model's
   distribution and the ear's three features are kept in passing, and the real accompaniment's
   token is scored under every (key, consonance, doubling) weight of a grid. The weights of the
   lowest perplexity were the first ear's; the shipped ones are stronger, chosen on the
   accompaniments as the daemon plays them (``duet_frame_sweep.py --ear``): the real parts
   double the tune more often than an accompanist should, and hold notes the tune has not
   sounded lately, which the key fit charges most for (models/duet/README.md).
2. **Accompaniments** (``--strengths``): the validation melodies accompanied from their start
   (``duet_eval.accompany``, the sampler's defaults) at each ``model.harmony`` strength, with the
   figures of ``evaluate`` next to the real accompaniment's.

    .venv/bin/python scripts/harmony_sweep.py --model models/duet --steps 1024 --strengths 0,0.5,1,1.5
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveplay.config import load_settings  # noqa: E402
from liveplay.model.bundle import load_bundle  # noqa: E402
from liveplay.model.harmony import HarmonyEngine  # noqa: E402
from liveplay.model.runtime import make_engine  # noqa: E402
from liveplay.music.context import Context  # noqa: E402
from liveplay.music.sampler import Sampler  # noqa: E402
from liveplay.offline.duet_eval import accompany, figures, in_melody_key, load_duets, sequence, summary  # noqa: E402

GRID = {"key": (0.0, 0.5, 1.0, 2.0, 3.0), "consonance": (0.0, 1.0, 2.0, 4.0, 6.0),
        "doubling": (-1.0, -0.5, 0.0, 0.5, 1.0)}


def likelihoods(bundle, pieces, steps: int) -> dict:
    """Mean negative log-likelihood of liveplay's real tokens under every weight of ``GRID``."""
    combos = list(itertools.product(*GRID.values()))
    signs = np.array([1.0, 1.0, -1.0])
    w = np.array(combos) * signs  # (G, 3): doubling counts against
    ear = HarmonyEngine(make_engine(bundle, "numpy", 1), bundle.vocab, 1.0)
    context = Context(ear)
    nll, n = np.zeros(len(combos)), 0
    for _, duet in pieces:
        seq = sequence(bundle, duet)[: 2 * steps + 2]
        context.reset()
        for i in range(1, len(seq)):
            if i % 2 == 0:  # liveplay's position
                p = ear.inner.distribution()
                t = seq[i]
                if ear.chords[t]:
                    b = w @ ear.features()  # (G, V)
                    chords = np.where(ear.chords, p, 0.0)
                    mass = chords.sum()
                    top = b.max(axis=1, keepdims=True)
                    z = np.log((chords[None, :] * np.exp(b - top)).sum(axis=1)) + top[:, 0]
                    nll -= np.log(p[t]) + b[:, t] + np.log(mass) - z
                else:
                    nll -= np.log(p[t])
                n += 1
            if i + 1 < len(seq):
                context.push(seq[i])
    rows = [{"key": k, "consonance": c, "doubling": d, "perplexity": round(math.exp(v / n), 4)}
            for (k, c, d), v in zip(combos, nll)]
    return {"predictions": n, "rows": sorted(rows, key=lambda r: r["perplexity"])}


def accompaniments(bundle, pieces, steps: int, strengths, experts) -> dict:
    base = load_settings().sampler
    real = [d.accompaniment[:steps] for _, d in pieces]
    out = {"real": summary([figures(a, d.melody[:steps]) for a, (_, d) in zip(real, pieces)], real)}
    for s in strengths:
        engine = HarmonyEngine(make_engine(bundle, "numpy", 1), bundle.vocab, s, experts)
        made, rows = [], []
        for i, (_, duet) in enumerate(pieces):
            melody = duet.melody[:steps]
            ours = bundle.vocab.decode(accompany(engine, Sampler(replace(base, seed=i)), bundle.vocab.encode(melody)))
            made.append(ours)
            rows.append(figures(ours, melody))
        out[f"harmony {s:g}"] = summary(rows, made)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/duet")
    p.add_argument("--steps", type=int, default=1024, help="steps of each piece scored (1024)")
    p.add_argument("--strengths", default="", help="model.harmony strengths to accompany with, e.g. 0,0.5,1")
    p.add_argument("--experts", default="", help="key,consonance,doubling for the accompaniments "
                   "(default: the likelihood's best)")
    p.add_argument("--accompany-steps", type=int, default=256)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    bundle = load_bundle(args.model)
    pieces = in_melody_key(bundle, load_duets(bundle, bundle.manifest.training.files.validation))
    results: dict = {"model": args.model, "pieces": len(pieces)}
    results["likelihood"] = likelihoods(bundle, pieces, args.steps)
    best = results["likelihood"]["rows"][0]
    experts = (tuple(float(x) for x in args.experts.split(",")) if args.experts
               else (best["key"], best["consonance"], best["doubling"]))
    if args.strengths:
        strengths = [float(x) for x in args.strengths.split(",")]
        results["experts"] = experts
        results["accompaniments"] = accompaniments(bundle, pieces, args.accompany_steps, strengths, experts)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    lk = results["likelihood"]
    none = next(r for r in lk["rows"] if r["key"] == r["consonance"] == r["doubling"] == 0)
    print(f"{args.model}: {len(pieces)} validation pieces, {lk['predictions']} of liveplay's tokens scored")
    print(f"model alone: perplexity {none['perplexity']}")
    for r in lk["rows"][:10]:
        print(f"  key {r['key']:<4g} consonance {r['consonance']:<4g} doubling {r['doubling']:<5g} "
              f"perplexity {r['perplexity']}")
    for name, fig in results.get("accompaniments", {}).items():
        print(f"{name:>14}: " + ", ".join(f"{k} {v}" for k, v in fig.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
