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
(``corpus_share``: tried, not adopted; models/default/README.md); ``--long-term gate`` takes the
share from the gate fitted in the bundle's tables (``liveplay longterm --gate``). ``--by-order``
fits one share for each longest corpus context found (tried, not adopted: the card).

    .venv/bin/python scripts/short_term_sweep.py --model models/default --weights 0,0.2,0.3,0.4,0.5
    .venv/bin/python scripts/short_term_sweep.py --model models/default --weights 0.1,0.2 --long-term 0,0.1,0.2,0.3
    .venv/bin/python scripts/short_term_sweep.py --model models/default --weights 0.2 --long-term 0.05,0.1 --bias 0,1,2
    .venv/bin/python scripts/short_term_sweep.py --model models/default --weights 0.2 --long-term 0.05,0.1,gate
    .venv/bin/python scripts/short_term_sweep.py --model models/default --weights 0.2 --long-term 0.05 --by-order
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
from liveplay.model.longterm import FILE, GATE_WINDOW, CorpusTables, gate_features, relative_entropy  # noqa: E402
from liveplay.model.numpy_engine import NumpyEngine  # noqa: E402
from liveplay.model.shortterm import ShortTermEngine  # noqa: E402
from liveplay.music.context import Context, with_start  # noqa: E402
from liveplay.offline.gate import Steps  # noqa: E402
from liveplay.offline.evaluate import (at_most, chord_targets, collection, files_on_disk, in_key_frame,  # noqa: E402
                                       load_pieces)


def corpus_share(weight: float, bias: float, h_model: float, h_corpus: float) -> float:
    """The corpus's share of the mix at one step: ``weight`` with ``bias`` 0; with ``bias`` b > 0,
    as IDyOM weighs its models, each one's prior weight times its relative entropy to the -b (the
    surer of the two has more of the say); ``h_*``: the two distributions' ``relative_entropy``, at
    least 1e-6 (a certain distribution's 0 has no power -b)."""
    if bias == 0:
        return weight
    c = weight * h_corpus ** -bias
    m = (1.0 - weight) * h_model ** -bias
    return float(c / (c + m))


def longest_context(tables: CorpusTables, history) -> str:
    """The longest context of the history that the corpus's tables hold: its order, with "d"
    when one token only ever followed it (deterministic); "-1" when none is held."""
    for k, tokens, _ in tables.found(history):
        return f"{k}d" if len(tokens) == 1 else str(k)
    return "-1"


GATED = -1.0  # --long-term gate: the bundle's gate gives the share

GRID = np.round(np.concatenate([np.arange(0, 0.2, 0.01), np.arange(0.2, 0.96, 0.05)]), 3)


def fit_by_order(steps: list[tuple], short: float, fixed: float) -> dict:
    """For each longest context found (``longest_context``), the corpus's share with the lowest
    perplexity on one fold of files (even / odd), scored on the other, against the one fixed
    share on the same predictions."""
    f, _, order, pm, pc, ps = (np.array(x) for x in zip(*steps))
    rows = Steps(np.zeros((len(pm), 0)), pm, pc, ps, f, order)

    def best(where):  # the grid's share with the likeliest targets where ``where``
        part = rows.take(where)
        return float(max(GRID, key=lambda g: part.log_likelihood(np.full(len(part.p_model), g), short).sum()))

    orders = sorted(set(order.tolist()), key=lambda x: (int(x.rstrip("d")), x))
    report = {"orders": {k: {"predictions": int((order == k).sum()), "best_share_all": best(order == k)}
                         for k in orders}, "folds": []}
    for fold in (0, 1):
        fit, test = f % 2 == fold, f % 2 != fold
        table = {k: best(fit & (order == k)) if (fit & (order == k)).sum() >= 200 else fixed for k in orders}
        shares = np.array([table[k] for k in order])
        held = rows.take(test)
        report["folds"].append({"fit_on": ("even", "odd")[fold] + " files", "shares": table,
                                "held_out_perplexity_gated": round(float(np.exp(-held.log_likelihood(shares[test], short).mean())), 4),
                                "held_out_perplexity_fixed": round(float(np.exp(-held.log_likelihood(np.full(test.sum(), fixed), short).mean())), 4)})
    return report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/default")
    p.add_argument("--weights", default="0,0.1,0.2,0.3,0.4,0.5", help="short-term weights")
    p.add_argument("--long-term", default="0", help="long-term weights (other than 0: the bundle's longterm.npz); "
                   "'gate': the share its fitted gate gives at each step")
    p.add_argument("--bias", default="0", help="long-term entropy biases (corpus_share)")
    p.add_argument("--most", type=int, default=12, help="validation files per collection (12)")
    p.add_argument("--by-order", action="store_true",
                   help="fit the corpus's share for each longest context found (0..8), two folds of files")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    shorts = [float(w) for w in args.weights.split(",")]
    longs = [GATED if w == "gate" else float(w) for w in args.long_term.split(",")]
    biases = [float(b) for b in args.bias.split(",")]
    weights = [(s, lt, b) for s in shorts for lt in longs for b in biases]  # short-term, long-term, bias
    bundle = load_bundle(args.model)
    tables = CorpusTables.load(bundle.path / FILE, len(bundle.vocab)) if any(longs) else None
    if GATED in longs and tables.gate is None:
        p.error(f"--long-term gate: {bundle.path / FILE} has no gate (liveplay longterm --gate)")
    pieces = at_most(load_pieces(bundle, files_on_disk(bundle, "validation")), args.most)
    if key_normalised(bundle):
        pieces = in_key_frame(bundle, pieces)
    chords = chord_targets(bundle.vocab)
    engine = ShortTermEngine(NumpyEngine(bundle), 0.5)  # the weight here is unused: both parts are read
    context = Context(engine)
    w = np.array([s for s, _, _ in weights])[:, None]  # (K, 1)
    lt_bias = sorted({(x, b) for _, x, b in weights})
    which = [lt_bias.index((x, b)) for _, x, b in weights]  # (K,): each weight's long-term mix
    tallies: dict[str, dict] = {}
    steps: list[tuple] = []  # --by-order: (file, collection, longest order, model, corpus, match or -1) at the target
    for f, (name, tokens) in enumerate(pieces):
        seq = with_start(bundle.vocab.encode(tokens))
        context.reset()
        rows = [tallies.setdefault(g, {"n": 0, "logp": np.zeros(len(weights)), "top5": np.zeros(len(weights)),
                                       "chords": 0, "chord_top5": np.zeros(len(weights))})
                for g in (collection(name), "all")]
        for i in range(1, len(seq)):
            model = p_model = engine.inner.distribution()  # (V,)
            if tables is not None:
                corpus = tables.distribution(seq[max(0, i - tables.order): i])
                h = max(relative_entropy(model), 1e-6), max(relative_entropy(corpus), 1e-6)  # once a step
                gated = tables.gate.share(gate_features(model, corpus, seq[max(0, i - GATE_WINDOW): i], chords)) \
                    if GATED in longs else None
                share = np.array([gated if x == GATED else corpus_share(x, b, *h) for x, b in lt_bias])[which][:, None]
                model = (1 - share) * model + share * corpus  # (K, V)
            match = engine.match_distribution()
            mixed = np.broadcast_to(model, (len(weights), len(model.T))) if match is None else \
                (1 - w) * model + w * match
            target = seq[i]
            if args.by_order:
                steps.append((f, collection(name), longest_context(tables, seq[max(0, i - tables.order): i]),
                              float(p_model[target]), float(corpus[target]),
                              -1.0 if match is None else float(match[target])))
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
    if args.by_order:
        report["by_order"] = fit_by_order(steps, shorts[0], longs[0])
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.model}: {len(pieces)} validation files; (short-term, long-term, bias) {weights}")
    for g, r in report["by_collection"].items():
        print(f"{g:16} n={r['predictions']:6d}  perplexity {r['perplexity']}  top-5 {r['top5']}  "
              f"chord-onset top-5 ({r['chord_onsets']}) {r['chord_top5']}")
    if args.by_order:
        print(json.dumps(report["by_order"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
