"""Does the model answer in the player's key, with chords where they play chords? Measured.

For every piece with at least ``PRIME_BEATS + ANSWER_BEATS`` beats: the prime is its first 16
beats, the model continues it for 16 beats (seeded sampling, the sampler's settings; ``answers``
continuations of each prime, its figures their mean), and the continuation is compared with the
prime -- next to the piece's own next 16 beats (the data's ceiling) and the next 16 beats of
another piece of the same collection (a seeded shuffle: chance). One sampled continuation a prime
makes a collection of a few files swing by a whole file's share; several give the model's own
rate (the data has only the one continuation it has).

- key agreement: the share of pieces whose continuation is in the prime's key (tonic and mode,
  ``musicality.key_of``);
- pitch-class cosine between the prime's and the continuation's histograms (mean);
- chord share of the continuations' onsets, and the IOI-histogram overlap with the data's own
  continuations;
- the grid's quantisation loss on the pieces (how many onsets the grid moves).

Figures come per collection (the pieces' folder, e.g. ``bach`` or ``essen``) and over all.

A collection of a few pieces decides its figures by single pieces, so each model figure also
comes as a share of the data's with a 90 % interval (``share_interval``): the primes resampled
with replacement, the model's figure and the data's of the same primes together, ``RESAMPLES``
times with a fixed seed. A target such as "at least 90 % of the data's" is then met, missed, or
within the interval's reach.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from liveplay.config import SamplerSettings
from liveplay.model.bundle import Bundle
from liveplay.model.engine import Engine
from liveplay.model.inkey import KeyKeeper
from liveplay.music.midifile import read_notes
from liveplay.music.sampler import Sampler
from liveplay.music.tokens import RawToken
from liveplay.offline import musicality as m
from liveplay.offline.generate import continue_ids

log = logging.getLogger(__name__)

PRIME_BEATS = 16
ANSWER_BEATS = 16
RESAMPLES = 2000  # bootstrap draws for a share's interval
INTERVAL = 0.90


def collection(path: str | Path) -> str:
    return Path(path).parent.name or "."


def listening(bundle: Bundle, engine: Engine, sampler_settings: SamplerSettings,
              pieces: Sequence[tuple[str, list[RawToken]]], seed: int = 0, progress=lambda x, n: x,
              answers: int = 1, keeper: KeyKeeper | None = None) -> dict:
    """Figures of ``pieces`` ((file, tokens on the model's grid)), per collection and over all;
    ``answers`` continuations of each prime (the k-th of the i-th long-enough piece seeded
    ``seed + i + k * n``, n the number of pieces long enough, so one answer at ``seed + n`` is the
    second answer at ``seed``); ``keeper``: the answers keep the prime's key as the daemon's keep
    the player's (``model.key_keeping``; the prime is the player's)."""
    if answers < 1:
        raise ValueError(f"answers must be at least 1 (got {answers})")
    spb = bundle.grid.steps_per_beat
    p_steps, a_steps = PRIME_BEATS * spb, ANSWER_BEATS * spb
    long_enough = [(f, t) for f, t in pieces if len(t) >= p_steps + a_steps]
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (f, _) in enumerate(long_enough):
        groups[collection(f)].append(i)
    other = {}  # a seeded pairing with another piece of the same collection (chance)
    for members in groups.values():
        shuffled = list(rng.permutation(members))
        for a, b in zip(members, shuffled[1:] + shuffled[:1]) if len(members) > 1 else ():
            other[a] = b
    rows = []
    for i, (f, tokens) in enumerate(progress(long_enough, len(long_enough))):
        prime, truth = tokens[:p_steps], tokens[p_steps: p_steps + a_steps]
        primed = bundle.vocab.encode(prime)
        found = []
        for k in range(answers):
            sampler = Sampler(replace(sampler_settings, seed=seed + i + k * len(long_enough)))
            ids, _, _ = continue_ids(engine, sampler, primed, a_steps, keeper)
            found.append(bundle.vocab.decode(ids))
        chance = long_enough[other[i]][1][p_steps: p_steps + a_steps] if i in other else None
        rows.append(_row(f, prime, found, truth, chance))
    report = {name: _summary([r for r in rows if r["collection"] == name]) for name in sorted(groups)}
    report["all"] = _summary(rows)
    report["quantisation_loss"] = _quantisation(long_enough, spb)
    return report


def _row(f: str, prime, answers, truth, chance) -> dict:
    """One piece's figures: the model's the mean over its ``answers``."""
    h_prime = m.pitch_class_histogram(prime)
    k_prime = m.key_of(h_prime)
    row = {"collection": collection(f), "answers": answers, "truth": truth}
    for name, parts in (("model", answers), ("data", [truth]), ("chance", [chance])):
        if parts[0] is None:
            continue
        hists = [m.pitch_class_histogram(part) for part in parts]
        row[f"{name}_key"] = float(np.mean([k_prime is not None and m.key_of(h) == k_prime for h in hists]))
        row[f"{name}_cosine"] = float(np.mean([m.cosine(h_prime, h) for h in hists]))
    return row


def _summary(rows: list[dict]) -> dict:
    if not rows:
        return {}
    out: dict = {"pieces": len(rows), "answers": len(rows[0]["answers"])}
    for name in ("model", "data", "chance"):
        keys = [r[f"{name}_key"] for r in rows if f"{name}_key" in r]
        cos = [r[f"{name}_cosine"] for r in rows if f"{name}_cosine" in r]
        out[f"key_agreement_{name}"] = round(float(np.mean(keys)), 4) if keys else None
        out[f"pc_cosine_{name}"] = round(float(np.mean(cos)), 4) if cos else None
    for figure, short in (("key", "key_agreement"), ("cosine", "pc_cosine")):
        paired = [(r[f"model_{figure}"], r[f"data_{figure}"]) for r in rows if f"data_{figure}" in r]
        point, interval = share_interval(np.array(paired).reshape(-1, 2))
        out[f"{short}_share"] = point
        out[f"{short}_share_90"] = interval
    answers = [t for r in rows for answer in r["answers"] for t in answer]
    truths = [t for r in rows for t in r["truth"]]
    out["chord_share_model"] = round(m.chord_share(answers), 4)
    out["chord_share_data"] = round(m.chord_share(truths), 4)
    ioi_model = m.ioi_histogram(answers)
    ioi_data = m.ioi_histogram(truths)
    out["ioi_overlap"] = round(m.overlap(ioi_model, ioi_data), 4)
    return out


def share_interval(paired: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
                   ) -> tuple[float | None, list[float | None] | None]:
    """The model's figure as a share of the data's, mean over mean, over ``paired`` (N, 2): one
    (model, data) row a prime; and its ``INTERVAL`` bootstrap interval [low, high], the primes
    drawn with replacement. (None, None) where the data's figure is 0 (no share); an interval of
    None for a single prime (nothing to resample). A draw whose primes all have the data at 0 has
    no share either, whatever the model did: it counts as unbounded, so a high of None where more
    than a twentieth of the draws are such (no upper bound)."""
    if len(paired) == 0 or paired[:, 1].mean() == 0:
        return None, None
    point = round(float(paired[:, 0].mean() / paired[:, 1].mean()), 4)
    if len(paired) == 1:
        return point, None
    rng = np.random.default_rng(seed)
    means = paired[rng.integers(0, len(paired), size=(resamples, len(paired)))].mean(axis=1)  # (R, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(means[:, 1] > 0, means[:, 0] / means[:, 1], np.inf)
    tail = (1 - INTERVAL) / 2
    low, high = np.quantile(shares, [tail, 1 - tail], method="inverted_cdf")
    return point, [round(float(low), 4), None if np.isinf(high) else round(float(high), 4)]


def format_share(point: float | None, interval: list[float | None] | None) -> str:
    """'69 % (45 % - 98 %)' for a share and its interval; '-' where the data's figure is 0."""
    if point is None:
        return "-"
    if interval is None:
        return f"{100 * point:.0f} % (one prime: no interval)"
    high = "no bound" if interval[1] is None else f"{100 * interval[1]:.0f} %"
    return f"{100 * point:.0f} % ({100 * interval[0]:.0f} % - {high})"


def _quantisation(pieces: Sequence[tuple[str, list]], steps_per_beat: int) -> dict:
    """Share of note onsets the grid moves, per collection (from the files' own notes)."""
    by: dict[str, list[float]] = defaultdict(list)
    for f, _ in pieces:
        try:
            notes, _ = read_notes(f)
        except Exception as err:  # already read once to make the tokens: unlikely
            log.debug("%s: %s", f, err)
            continue
        by[collection(f)].append(m.quantisation_loss(notes, steps_per_beat))
    return {name: round(float(np.nanmean(v)), 4) for name, v in sorted(by.items())}
