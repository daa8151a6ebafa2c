"""Fit the long-term model's gate (``model.longterm.Gate``) on a model's validation split.

Every validation file goes through the daemon's path once (``Context`` on the exact engine, the
corpus's tables around it, the short-term model around that), and at each step the features the
gate sees are kept with what the model, the corpus and the match model gave the token that came.
The gate is fitted to the mixture's log-likelihood with the short-term weight as the daemon
plays it. Before the gate fitted on every file is kept, two folds say what it is worth on files
it was not fitted on: fitted on the even files and scored on the odd, and the other way round,
next to the fixed share on the same predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from liveplay.model.bundle import Bundle
from liveplay.model.keyframe import key_normalised
from liveplay.model.longterm import GATE_FEATURES, CorpusTables, Gate, LongTermEngine, gate_features
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.model.shortterm import ShortTermEngine
from liveplay.music.context import Context, with_start
from liveplay.music.tokens import chord_targets
from liveplay.offline.evaluate import at_most, collection, files_on_disk, in_key_frame, load_pieces

MIN_STEPS = 200  # fewer predictions than this fit no gate (ten weights)


@dataclass
class Steps:
    """One row a prediction: the gate's features, and each model's probability of the target."""

    x: np.ndarray  # (N, F)
    p_model: np.ndarray  # (N,)
    p_corpus: np.ndarray  # (N,)
    p_match: np.ndarray  # (N,)  -1: the short-term model had nothing to say
    piece: np.ndarray  # (N,)  index of the file
    group: np.ndarray  # (N,)  its collection

    def take(self, rows: np.ndarray) -> "Steps":
        return Steps(*(a[rows] for a in (self.x, self.p_model, self.p_corpus, self.p_match, self.piece, self.group)))

    def log_likelihood(self, share: np.ndarray, short: float) -> np.ndarray:
        """(N,) log-probability of each target under the daemon's mix with these corpus shares."""
        outer, rest = _around(self.p_match, short)
        return np.log(np.maximum(outer * ((1.0 - share) * self.p_model + share * self.p_corpus) + rest, 1e-300))


def _around(p_match: np.ndarray, short: float) -> tuple[np.ndarray, np.ndarray]:
    """(outer, rest), (N,) each: the daemon's mix at a step is ``outer`` times the model's and the
    corpus's mix, plus ``rest``, the short-term model's part where it had something to say
    (``p_match`` >= 0) at weight ``short``."""
    matched = p_match >= 0
    return np.where(matched, 1.0 - short, 1.0), np.where(matched, short * np.maximum(p_match, 0.0), 0.0)


def record(bundle: Bundle, tables: CorpusTables, pieces: Sequence[tuple[str, list]],
           group=lambda name: name) -> Steps:
    """The daemon's path over ``pieces`` ((name, tokens), in the model's key frame), kept a step at a time."""
    chords = chord_targets(bundle.vocab)
    long_term = LongTermEngine(NumpyEngine(bundle), tables, 0.0)
    engine = ShortTermEngine(long_term, 0.5)  # its weight is unused: its part is read, not mixed
    context = Context(engine)
    rows: list[tuple] = []
    for index, (name, tokens) in enumerate(pieces):
        seq = with_start(bundle.vocab.encode(tokens))
        context.reset()
        for i in range(1, len(seq)):
            p_model, p_corpus, _ = long_term.parts()
            match = engine.match_distribution()
            target = seq[i]
            rows.append((gate_features(p_model, p_corpus, long_term.recent, chords), p_model[target],
                         p_corpus[target], -1.0 if match is None else match[target], index, group(name)))
            if i + 1 < len(seq):
                context.push(target)
    if not rows:
        raise ValueError("no validation steps to fit a gate on")
    x, pm, pc, ps, piece, grp = zip(*rows)
    return Steps(np.array(x), np.array(pm), np.array(pc), np.array(ps), np.array(piece), np.array(grp))


def fit_gate(x: np.ndarray, p_model: np.ndarray, p_corpus: np.ndarray, p_match: np.ndarray,
             short: float, prior: float, steps: int = 3000, rate: float = 0.05) -> Gate:
    """The gate that makes the targets likeliest (full-batch Adam on the mean log-likelihood,
    from the fixed share ``prior`` everywhere). Each row is a step: its features ``x`` (N, F)
    and the probability each model gave the token that came (N,); ``p_match`` < 0 where the
    short-term model had nothing to say, else it is mixed around with weight ``short``."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.concatenate([(x - mean) / scale, np.ones((len(x), 1))], axis=1)  # (N, F + 1)
    outer, rest = _around(p_match, short)
    theta = np.zeros(z.shape[1])
    theta[-1] = np.log(prior / (1.0 - prior))
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t in range(1, steps + 1):
        s = 1.0 / (1.0 + np.exp(-(z @ theta)))  # (N,)
        mixed = outer * ((1.0 - s) * p_model + s * p_corpus) + rest
        g = (outer * (p_corpus - p_model) / np.maximum(mixed, 1e-300) * s * (1.0 - s)) @ z / len(z)
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        theta += rate * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    return Gate(mean, scale, theta)


def fit(steps: Steps, short: float, prior: float) -> tuple[Gate, dict]:
    """The gate fitted on every step, and what two folds of files measured of it (module docstring)."""
    if len(steps.p_model) < MIN_STEPS:
        raise ValueError(f"{len(steps.p_model)} validation predictions: a gate needs at least {MIN_STEPS}")
    report: dict = {"predictions": int(len(steps.p_model)), "folds": []}
    for fold in (0, 1):
        on, off = steps.take(steps.piece % 2 == fold), steps.take(steps.piece % 2 != fold)
        gate = fit_gate(on.x, on.p_model, on.p_corpus, on.p_match, short, prior)
        shares = np.array([gate.share(row) for row in off.x])
        gated, fixed = off.log_likelihood(shares, short), off.log_likelihood(np.full(len(shares), prior), short)
        row = {"fitted_on": ("even", "odd")[fold] + " files", "predictions": int(len(shares)),
               "perplexity_gated": round(float(np.exp(-gated.mean())), 4),
               "perplexity_fixed": round(float(np.exp(-fixed.mean())), 4),
               "share_median": round(float(np.median(shares)), 4), "by_collection": {}}
        for g in sorted(set(off.group.tolist())):
            r = off.group == g
            row["by_collection"][g] = {"perplexity_gated": round(float(np.exp(-gated[r].mean())), 4),
                                       "perplexity_fixed": round(float(np.exp(-fixed[r].mean())), 4),
                                       "share_mean": round(float(shares[r].mean()), 4)}
        report["folds"].append(row)
    gate = fit_gate(steps.x, steps.p_model, steps.p_corpus, steps.p_match, short, prior)
    report["weights"] = {"bias": round(float(gate.theta[-1]), 4),
                         **{name: round(float(t), 4) for name, t in zip(GATE_FEATURES, gate.theta[:-1])}}
    return gate, report


def fit_on_validation(bundle: Bundle, tables: CorpusTables, skip_drums: bool, short: float, prior: float,
                      most: int) -> tuple[Gate, dict]:
    """``fit`` on at most ``most`` of the bundle's validation files on disk of each collection, in
    its key frame; the report also says how many files (``files``)."""
    files = files_on_disk(bundle, "validation")
    if not files:
        raise ValueError(f"none of {bundle.path}'s validation files is on disk")
    pieces = at_most(load_pieces(bundle, files, skip_drums), most)
    if key_normalised(bundle):
        pieces = in_key_frame(bundle, pieces)
    gate, report = fit(record(bundle, tables, pieces, collection), short, prior)
    return gate, {**report, "files": len(pieces)}
