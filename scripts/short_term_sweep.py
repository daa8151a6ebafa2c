#!/usr/bin/env python3
"""Choose ``model.short_term`` and ``model.long_term`` by measurement, on the model's validation split
(never the test split).

Every validation file (at most ``--most`` of each collection, the same files every time, in the
key frame as ``evaluate`` moves them) goes through the daemon's path once: a ``Context`` on the
exact engine inside ``ShortTermEngine``. At each step the model's distribution, the match
model's and (with ``--long-term``) the corpus's PPM (the bundle's ``longterm.npz``) are all kept,
so every pair of weights is scored on the same predictions: perplexity, top-5, and chord-onset
top-5 (targets of two notes or more), over all files and per collection. The daemon's mix is
``(1 - s) * ((1 - l) * model + l * corpus) + s * match`` (``model.longterm`` inside ``model.shortterm``);
with ``--bias`` b > 0 the corpus's share l moves with the two distributions' entropies at each step
(``corpus_share``: tried, not adopted; models/default/README.md).

    .venv/bin/python scripts/short_term_sweep.py --model models/default --weights 0,0.2,0.3,0.4,0.5
    .venv/bin/python scripts/short_term_sweep.py --model models/default --weights 0.1,0.2 --long-term 0,0.1,0.2,0.3
    .venv/bin/python scripts/short_term_sweep.py --model models/default --weights 0.2 --long-term 0.05,0.1 --bias 0,1,2
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveplay.model.bundle import load_bundle  # noqa: E402
from liveplay.model.keyframe import key_normalised  # noqa: E402
from liveplay.model.longterm import FILE, CorpusTables  # noqa: E402
from liveplay.model.numpy_engine import NumpyEngine  # noqa: E402
from liveplay.model.shortterm import ShortTermEngine  # noqa: E402
from liveplay.music.context import Context, with_start  # noqa: E402
from liveplay.offline.evaluate import at_most, chord_targets, collection, in_key_frame, load_pieces  # noqa: E402


def relative_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy of each distribution over the last axis, as a share of the uniform's (0..1]."""
    return np.maximum(-(p * np.log(np.maximum(p, 1e-300))).sum(axis=-1) / np.log(p.shape[-1]), 1e-6)


def corpus_share(weight: float, bias: float, h_model: float, h_corpus: float) -> float:
    """The corpus's share of the mix at one step: ``weight`` with ``bias`` 0; with ``bias`` b > 0,
    as IDyOM weighs its models, each one's prior weight times its relative entropy to the -b (the
    surer of the two has more of the say); ``h_*``: the two distributions' ``relative_entropy``."""
    if bias == 0:
        return weight
    c = weight * h_corpus ** -bias
    m = (1.0 - weight) * h_model ** -bias
    return float(c / (c + m))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/default")
    p.add_argument("--weights", default="0,0.1,0.2,0.3,0.4,0.5", help="short-term weights")
    p.add_argument("--long-term", default="0", help="long-term weights (other than 0: the bundle's longterm.npz)")
    p.add_argument("--bias", default="0", help="long-term entropy biases (corpus_share)")
    p.add_argument("--most", type=int, default=12, help="validation files per collection (12)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    shorts = [float(w) for w in args.weights.split(",")]
    longs = [float(w) for w in args.long_term.split(",")]
    biases = [float(b) for b in args.bias.split(",")]
    weights = [(s, lt, b) for s in shorts for lt in longs for b in biases]  # short-term, long-term, bias
    bundle = load_bundle(args.model)
    tables = CorpusTables.load(bundle.path / FILE, len(bundle.vocab)) if any(longs) else None
    pieces = at_most(load_pieces(bundle, bundle.manifest.training.files.validation), args.most)
    if key_normalised(bundle):
        pieces = in_key_frame(bundle, pieces)
    chords = chord_targets(bundle.vocab)
    engine = ShortTermEngine(NumpyEngine(bundle), 0.5)  # the weight here is unused: both parts are read
    context = Context(engine)
    w = np.array([s for s, _, _ in weights])[:, None]  # (K, 1)
    lt_bias = sorted({(x, b) for _, x, b in weights})
    which = [lt_bias.index((x, b)) for _, x, b in weights]  # (K,): each weight's long-term mix
    tallies: dict[str, dict] = {}
    for name, tokens in pieces:
        seq = with_start(bundle.vocab.encode(tokens))
        context.reset()
        rows = [tallies.setdefault(g, {"n": 0, "logp": np.zeros(len(weights)), "top5": np.zeros(len(weights)),
                                       "chords": 0, "chord_top5": np.zeros(len(weights))})
                for g in (collection(name), "all")]
        for i in range(1, len(seq)):
            model = engine.inner.distribution()  # (V,)
            if tables is not None:
                corpus = tables.distribution(seq[max(0, i - tables.order): i])
                h = relative_entropy(model), relative_entropy(corpus)  # once a step, for every pair
                share = np.array([corpus_share(x, b, *h) for x, b in lt_bias])[which][:, None]
                model = (1 - share) * model + share * corpus  # (K, V)
            match = engine.match_distribution()
            mixed = np.broadcast_to(model, (len(weights), len(model.T))) if match is None else \
                (1 - w) * model + w * match
            target = seq[i]
            p_target = mixed[:, target]  # (K,)
            in_top5 = (mixed > p_target[:, None]).sum(axis=1) < 5  # (K,)
            for row in rows:
                row["n"] += 1
                row["logp"] += np.log(np.maximum(p_target, 1e-300))
                row["top5"] += in_top5
                if chords[target]:
                    row["chords"] += 1
                    row["chord_top5"] += in_top5
            if i + 1 < len(seq):
                context.push(target)
    report = {"model": args.model, "files": len(pieces), "weights": [list(x) for x in weights], "by_collection": {}}
    for g, row in sorted(tallies.items()):
        report["by_collection"][g] = {
            "predictions": row["n"], "chord_onsets": row["chords"],
            "perplexity": [round(float(np.exp(-x / row["n"])), 4) for x in row["logp"]],
            "top5": [round(float(x / row["n"]), 4) for x in row["top5"]],
            "chord_top5": [round(float(x / row["chords"]), 4) if row["chords"] else None for x in row["chord_top5"]]}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.model}: {len(pieces)} validation files; (short-term, long-term, bias) {weights}")
    for g, r in report["by_collection"].items():
        print(f"{g:16} n={r['predictions']:6d}  perplexity {r['perplexity']}  top-5 {r['top5']}  "
              f"chord-onset top-5 ({r['chord_onsets']}) {r['chord_top5']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
