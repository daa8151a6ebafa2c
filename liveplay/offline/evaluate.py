"""Held-out figures for a bundle, side by side with n-gram baselines, and generation statistics.

Prediction figures are over every next-token prediction in the given files,
tokenised the model's way (its grid, its vocabulary with nearest mapping, a
REST first): accuracy, top-5 accuracy, perplexity = exp(mean negative log
probability). The model's distributions come from the exact engine (the
daemon's own path). Baselines are fit on the training files (the manifest's by
default) with the bundle's transposition augmentation (``baseline_transpositions``),
for a like-for-like comparison.

Generation statistics describe a sampled continuation: distinct-n ratio
(distinct n-grams / n-grams), repetition rate (share of steps where the
sampler's repetition test fires), REST and HOLD shares, and the longest run
of tokens copied verbatim from the training data.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from liveplay.offline.baselines import NGram
from liveplay.offline.listening import PRIME_BEATS, collection
from liveplay.offline.memory import as_trained
from liveplay.offline.musicality import tonic_shift
from liveplay.offline.ppm import PPM
from liveplay.offline.progress import progress
from liveplay.model.bundle import Bundle
from liveplay.model.keyframe import key_normalised
from liveplay.model.engine import Engine
from liveplay.music.midifile import load_token_files
from liveplay.music.sampler import is_repeating
from liveplay.music.context import Context, with_start
from liveplay.music.tokens import HOLD, HOLD_ID, REST, REST_ID, Coverage, augment, chord_targets, transpose

log = logging.getLogger(__name__)


@dataclass
class Scores:
    predictions: int
    accuracy: float
    top5: float
    perplexity: float
    chord_predictions: int = 0  # predictions whose target is a chord (two notes or more)
    chord_top5: float = float("nan")  # top-5 accuracy on those


def tally(predictions: Iterable[tuple[np.ndarray, int]], chords: np.ndarray | None = None) -> Scores:
    """Figures over (P(next), the token that came) pairs; ``chords[id]`` marks chord targets."""
    n = correct = top5 = chord_n = chord_top5 = 0
    nll = 0.0
    for p, target in predictions:
        n += 1
        correct += int(np.argmax(p) == target)
        hit = int(target in np.argpartition(p, -5)[-5:])
        top5 += hit
        if chords is not None and chords[target]:
            chord_n += 1
            chord_top5 += hit
        nll -= math.log(max(float(p[target]), 1e-12))
    if n == 0:
        return Scores(0, float("nan"), float("nan"), float("nan"))
    return Scores(n, correct / n, top5 / n, math.exp(nll / n), chord_n,
                  chord_top5 / chord_n if chord_n else float("nan"))


def score(predict: Callable[[Sequence[int]], np.ndarray], sequences: Sequence[Sequence[int]],
          chords: np.ndarray | None = None, scored: Callable[[int], bool] | None = None) -> Scores:
    """Figures of a predictor ``predict(history) = P(next | history)`` over every next token (over
    the targets at the positions ``scored(index)`` picks, when given: a duet's accompaniment)."""
    return tally(((predict(seq[: i + 1]), seq[i + 1]) for seq in sequences for i in range(len(seq) - 1)
                  if scored is None or scored(i + 1)), chords)


def score_engine(engine: Engine, sequences: Iterable[Sequence[int]], chords: np.ndarray | None = None,
                 scored: Callable[[int], bool] | None = None) -> Scores:
    """The model's figures through the daemon's own path: a ``Context`` on the exact engine
    (``scored``: as in ``score``).

    The sequences start with REST (``with_start``), as every context does.
    """
    context = Context(engine)

    def predictions():
        for seq in sequences:
            if not seq or seq[0] != REST_ID:
                raise ValueError("a scored sequence starts with REST (music.context.with_start)")
            context.reset()
            for i in range(1, len(seq)):
                if scored is None or scored(i):
                    yield context.distribution(), seq[i]
                if i + 1 < len(seq):
                    context.push(seq[i])

    return tally(predictions(), chords)


def distinct_ratio(ids: Sequence[int], n: int) -> float:
    grams = [tuple(ids[i: i + n]) for i in range(len(ids) - n + 1)]
    return len(set(grams)) / len(grams) if grams else float("nan")


class _Grams:
    """Hashes of every n-gram of a sequence for any n, vectorised (wrapping uint64 arithmetic).

    With odd base B and its inverse B' modulo 2**64, S_i = sum_{j<i} v_j B'^j, and the
    n-gram at i hashes to B^(i+n-1) * (S_{i+n} - S_i) = sum_j v_j B^(i+n-1-j).
    Positions holding -1 separate sequences; n-grams across them are left out.
    """

    BASE = 1_000_003

    def __init__(self, seq: np.ndarray):
        n = len(seq)
        with np.errstate(over="ignore"):
            vals = (seq.astype(np.int64) + 2).astype(np.uint64)  # (N,)
            inv = np.uint64(pow(self.BASE, -1, 2**64))
            ones = np.ones(1, dtype=np.uint64)
            self.powers = np.concatenate([ones, np.cumprod(np.full(max(n - 1, 0), self.BASE,
                                                                   dtype=np.uint64))])  # B^j  (N,)
            inv_powers = np.concatenate([ones, np.cumprod(np.full(max(n - 1, 0), inv,
                                                                  dtype=np.uint64))])  # B'^j  (N,)
            self.sums = np.concatenate([[np.uint64(0)], np.cumsum(vals * inv_powers, dtype=np.uint64)])
        self.seps = np.concatenate([[0], np.cumsum(seq < 0)])
        self.n = n

    def hashes(self, length: int) -> np.ndarray:
        if length > self.n:
            return np.zeros(0, dtype=np.uint64)
        with np.errstate(over="ignore"):
            h = self.powers[length - 1:] * (self.sums[length:] - self.sums[:-length])  # (N - length + 1,)
        clean = (self.seps[length:] - self.seps[:-length]) == 0
        return h[clean]


def corpus_index(corpus: Sequence[Sequence[int]]) -> _Grams:
    """The training sequences end to end (a -1 between two), indexed once for ``longest_copy``."""
    return _Grams(np.concatenate([np.append(np.asarray(s, dtype=np.int64), -1) for s in corpus]))


def longest_copy(generated: Sequence[int], index: _Grams) -> int:
    """Length of the longest run of ``generated`` found verbatim in one indexed corpus sequence."""
    if len(generated) == 0:
        return 0
    gen = _Grams(np.asarray(generated, dtype=np.int64))

    def found(length: int) -> bool:
        return length == 0 or bool(np.isin(gen.hashes(length), index.hashes(length)).any())

    lo, hi = 0, len(generated)  # found(lo) holds; binary search the largest length found
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if found(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def generation_stats(ids: Sequence[int], index: _Grams | None,
                     repeat_lengths: Sequence[int] = (2, 3, 4)) -> dict:
    ids = list(ids)
    repeats = sum(1 for i in range(1, len(ids) + 1) if is_repeating(ids[:i], repeat_lengths))
    stats = {f"distinct_{n}": round(distinct_ratio(ids, n), 4) for n in (1, 2, 3, 4)}
    stats.update({
        "steps": len(ids),
        "repetition_rate": round(repeats / len(ids), 4) if ids else float("nan"),
        "rest_share": round(ids.count(REST_ID) / len(ids), 4) if ids else float("nan"),
        "hold_share": round(ids.count(HOLD_ID) / len(ids), 4) if ids else float("nan"),
    })
    if index is not None:
        stats["longest_copy"] = longest_copy(ids, index)
    return stats


def data_stats(sequences: Sequence[Sequence[int]], chunk: int,
               repeat_lengths: Sequence[int] = (2, 3, 4), most: int = 400) -> dict:
    """Generation statistics of real data: the files end to end, cut into pieces as long as a
    generation (most pieces are several short songs, as a long generation is), averaged over at
    most ``most`` evenly spaced pieces."""
    stream = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
    starts = list(range(0, max(1, len(stream) - chunk + 1), chunk))
    if len(starts) > most:
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, most).astype(int)]
    rows = [generation_stats(stream[i: i + chunk].tolist(), None, repeat_lengths) for i in starts]
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}


def load_sequences(bundle: Bundle, paths: Sequence[str | Path], skip_drums: bool = True,
                   shifts: Sequence[int] = ()) -> list[list[int]]:
    """Files tokenised the model's way (transposed copies too, for the baselines' training data)."""
    way = bundle.manifest.training.settings.get("augment", "all")
    tokens = [as_trained(way, toks, bundle.grid.steps_per_beat)  # in the frame the model trained in
              for _, toks in load_pieces(bundle, paths, skip_drums)]
    if shifts:
        tokens = augment(tokens, shifts)
    return [with_start(bundle.vocab.encode(toks)) for toks in tokens]


def load_pieces(bundle: Bundle, paths: Sequence[str | Path], skip_drums: bool = True) -> list[tuple[str, list]]:
    """(file, raw tokens on the model's grid) of every readable file."""
    g = bundle.grid
    return [(str(p), toks) for p, toks in load_token_files(paths, g.steps_per_beat, g.max_notes, skip_drums,
                                                           progress, voicing=g.voicing)]


def at_most(pieces: Sequence[tuple[str, list]], most: int) -> list[tuple[str, list]]:
    """At most ``most`` pieces of each collection: evenly spaced in name order, so the same files
    are chosen every time (and for every model)."""
    groups: dict[str, list[tuple[str, list]]] = {}
    for piece in sorted(pieces, key=itemgetter(0)):
        groups.setdefault(collection(piece[0]), []).append(piece)
    out = []
    for members in groups.values():
        if len(members) > most:
            members = [members[i] for i in np.linspace(0, len(members) - 1, most).round().astype(int)]
        out += members
    return out


def in_key_frame(bundle: Bundle, pieces: Sequence[tuple[str, list]]) -> list[tuple[str, list]]:
    """Each piece moved to a tonic of C by the key of its first ``PRIME_BEATS`` beats: what a
    key-normalised model is told at play time, from what it has heard (key agreement and
    pitch-class cosine do not change under transposition)."""
    steps = PRIME_BEATS * bundle.grid.steps_per_beat
    out = []
    for name, toks in pieces:
        moved = transpose(toks, tonic_shift(toks[:steps]))
        out.append((name, toks if moved is None else moved))
    return out


def baseline_transpositions(bundle: Bundle) -> tuple[int, ...]:
    """The transpositions the baselines are fit on: the bundle's copies when it trained on every
    transposed copy (``augment: all``); none when it drew one key per window and epoch
    (``random``): the files in their own keys, one copy, as the model sees per epoch. Twelve copies
    of a 2-million-token mix would not fit an order-8 PPM in memory, and the test pieces come in
    their own keys, whose frequencies the one-copy baselines keep (the stronger choice for them)."""
    t = bundle.manifest.training
    return tuple(t.transpose) if t.settings.get("augment", "all") == "all" else ()


def files_on_disk(bundle: Bundle, split: str = "train") -> list[str]:
    """The manifest's files of ``split`` that still exist on disk. Those that do not (a data
    folder exported again, moved or pruned since the training) are left out with a warning that
    names them."""
    names = bundle.manifest.training.files.of(split)
    found = [n for n in names if Path(n).exists()]
    if len(found) < len(names):
        missing = [n for n in names if not Path(n).exists()]
        log.warning("%s: %d of the %s split's %d file(s) are not on disk and are left out: %s%s", bundle.path,
                    len(missing), split, len(names), ", ".join(missing[:3]), ", ..." if len(missing) > 3 else "")
    return found


def training_files(bundle: Bundle) -> list[str]:
    """The manifest's training files that still exist on disk."""
    return files_on_disk(bundle, "train")


def fit_baselines(sequences: Sequence[Sequence[int]], vocab_size: int, orders: Sequence[int] = (2, 3, 4),
                  ppm_order: int = 8):
    """(name, baseline fit on ``sequences``) one at a time: the unigram, the n-grams of ``orders``
    and PPM of ``ppm_order`` (0: none), each fit as it is asked for."""
    models = [("unigram" if order == 1 else f"{order}-gram", lambda o=order: NGram(o, vocab_size))
              for order in (1, *orders)]
    if ppm_order:
        models.append((f"ppm-{ppm_order}", lambda: PPM(ppm_order, vocab_size)))
    for name, make in models:
        yield name, make().fit(sequences)


def combine(parts: Sequence[Scores]) -> Scores:
    """The figures of several disjoint sets of predictions taken together."""
    parts = [p for p in parts if p.predictions]
    n = sum(p.predictions for p in parts)
    if n == 0:
        return Scores(0, float("nan"), float("nan"), float("nan"))
    chord_n = sum(p.chord_predictions for p in parts)
    return Scores(n, sum(p.accuracy * p.predictions for p in parts) / n,
                  sum(p.top5 * p.predictions for p in parts) / n,
                  math.exp(sum(math.log(p.perplexity) * p.predictions for p in parts) / n), chord_n,
                  sum(p.chord_top5 * p.chord_predictions for p in parts if p.chord_predictions) / chord_n
                  if chord_n else float("nan"))


def evaluate(bundle: Bundle, engine: Engine, data: Sequence[str | Path],
             train_data: Sequence[str | Path] | None, orders: Sequence[int] = (2, 3, 4),
             skip_drums: bool = True, ppm_order: int = 8, semitones: int = 0, baselines: bool = True,
             most: int | None = None) -> dict:
    """The model and the baselines on the files, per collection (the files' folder) and over all.

    ``semitones``: the held-out pieces moved by that much first (does the model answer as well in
    F# as in C?); a piece that would leave the MIDI range is left out. ``baselines=False`` skips
    fitting them (and so the training data's figures). ``most``: at most that many pieces of each
    collection, a fixed choice (``at_most``).
    """
    pieces = load_pieces(bundle, data, skip_drums)
    if most is not None:
        pieces = at_most(pieces, most)
    if semitones:
        moved = [(name, transpose(toks, semitones)) for name, toks in pieces]
        pieces = [(name, toks) for name, toks in moved if toks is not None]
    if key_normalised(bundle):
        pieces = in_key_frame(bundle, pieces)
    groups: dict[str, list[list[int]]] = {}
    covered: dict[str, Coverage] = {}
    for name, toks in pieces:
        group = collection(name)
        groups.setdefault(group, []).append(with_start(bundle.vocab.encode(toks)))
        covered[group] = covered.get(group, Coverage(0, 0, 0)) + bundle.vocab.coverage(toks)
    coverage = sum(covered.values(), Coverage(0, 0, 0))
    report: dict = {
        "model": str(bundle.path),
        "files": len(pieces),
        "vocabulary_coverage": {"chords": round(coverage.chord_share, 4),
                                "tokens": round(coverage.token_share, 4)},
        "test_pieces": pieces,
    }
    by = {g: {"files": len(seqs), "vocabulary_coverage": round(covered[g].chord_share, 4), "baselines": {}}
          for g, seqs in sorted(groups.items())}
    log.info("scoring the model on %d file(s)", len(pieces))
    chords = chord_targets(bundle.vocab)
    files = progress(((g, seq) for g, seqs in groups.items() for seq in seqs), len(pieces), "scoring")
    model = {g: score_engine(engine, (seq for _, seq in part), chords) for g, part in groupby(files, itemgetter(0))}
    for g, scores in model.items():
        by[g]["model"] = asdict(scores)
    report["model_scores"] = asdict(combine(list(model.values())))
    report["by_collection"] = by
    if train_data is None and baselines:
        train_data = training_files(bundle)
    if not train_data:
        if baselines:
            log.warning("no training data on disk: baselines skipped (give --train-data)")
        report["baselines"] = {}
        report["train_sequences"] = []
        return report
    train_seqs = load_sequences(bundle, train_data, skip_drums, baseline_transpositions(bundle))
    fitted = {}
    for name, baseline in fit_baselines(train_seqs, bundle.architecture.vocab_size, orders, ppm_order):
        parts = {g: score(baseline.distribution, seqs, chords) for g, seqs in groups.items()}
        for g, scores in parts.items():
            by[g]["baselines"][name] = asdict(scores)
        fitted[name] = asdict(combine(list(parts.values())))
        log.info("%s: perplexity %.3f", name, fitted[name]["perplexity"])
    report["baselines"] = fitted
    report["train_sequences"] = train_seqs
    return report
