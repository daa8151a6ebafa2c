#!/usr/bin/env python3
"""The sampler's settings for a duet model, by measurement on its validation split (never the test split).

Each variant (``--set NAME:KEY=V,KEY=V``, over ``sampler.*``; ``default`` is always run) accompanies
every validation melody from its start for ``--steps`` steps, as ``liveplay evaluate`` does
(``offline.duet_eval.accompany``: the real melody forced at the musician's positions, liveplay's
tokens sampled, seeded per piece), and prints the accompaniment figures next to the real
accompaniment's, with the temperature the sampler sat at (median, p90 over every step).

    .venv/bin/python scripts/duet_sampler_sweep.py --model models/duet --steps 256 \\
        --set no_heat:heat=1.0 --set fixed_0.7:heat=1.0,cool=1.0,temperature=0.7
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
from liveplay.model.runtime import make_engine  # noqa: E402
from liveplay.music.sampler import Sampler  # noqa: E402
from liveplay.offline.duet_eval import accompany, figures, in_melody_key, load_duets, summary  # noqa: E402


class Watched(Sampler):
    """A sampler that keeps the temperature of every draw."""

    def __init__(self, *args, seen: list[float], **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = seen

    def sample(self, probs, history):
        token = super().sample(probs, history)
        self.seen.append(self.temperature)
        return token


def variant(text: str) -> tuple[str, dict]:
    name, _, pairs = text.partition(":")
    out = {}
    for pair in filter(None, pairs.split(",")):
        key, _, value = pair.partition("=")
        out[key.strip()] = float(value)
    return name, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/duet")
    p.add_argument("--steps", type=int, default=256, help="steps of each melody accompanied (256)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME:KEY=V,KEY=V")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    base = load_settings().sampler.accompanying()
    bundle = load_bundle(args.model)
    engine = make_engine(bundle, "numpy", 1)
    pieces = in_melody_key(bundle, load_duets(bundle, bundle.manifest.training.files.validation))
    results = {"model": args.model, "pieces": len(pieces), "steps": args.steps}
    real = [d.accompaniment[: args.steps] for _, d in pieces]
    results["real"] = summary([figures(a, d.melody[: args.steps]) for a, (_, d) in zip(real, pieces)], real)
    for name, overrides in [("default", {})] + [variant(v) for v in args.sets]:
        settings, seen, made, rows = replace(base, **overrides), [], [], []
        for i, (_, duet) in enumerate(pieces):
            melody = duet.melody[: args.steps]
            sampler = Watched(replace(settings, seed=i), seen=seen)
            ours = bundle.vocab.decode(accompany(engine, sampler, bundle.vocab.encode(melody)))
            made.append(ours)
            rows.append(figures(ours, melody))
        results[name] = {**overrides, **summary(rows, made), "temperature_median": float(np.median(seen)),
                         "temperature_p90": float(np.percentile(seen, 90))}
        if not args.json:
            print(name, json.dumps(results[name]), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("real", json.dumps(results["real"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
