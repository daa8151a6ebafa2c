"""Held-out figures of a duet model (``train.kind: duet``): liveplay's part under the musician's.

**Prediction.** Every held-out piece is read as a duet (``midifile.read_duet``), tokenised the
model's way and interleaved (``music.duet``); only liveplay's part is scored: the accompaniment
targets, each predicted after the musician's token of the step before. Perplexity and accuracy of
the model (the exact engine through a ``Context``, the daemon's path) next to conditional
baselines -- the n-grams and PPM (``offline.baselines``, ``offline.ppm``) fit on the training
files' interleaving, scored on the same accompaniment positions.

**Accompanying.** For every held-out piece the model accompanies its melody from the start: at
each step the real melody token is forced at the musician's position and liveplay's token is
drawn by the ``Sampler`` (the config's settings, seeded per piece; its repetition test reads
liveplay's own tokens so far). The generated accompaniment is measured against the melody, next
to the piece's real accompaniment over the same steps (the ceiling):

- ``chord_share``: share of accompaniment onsets with two notes or more;
- ``doubling``: share of accompaniment onsets, at steps where the melody sounds, that hold a pitch
  of the same *pitch class* as a sounding melody pitch (the octave doubles too);
- ``key_agreement``: share of pieces whose accompaniment is in the melody's key (``keys.key_of``
  of the two pitch-class histograms: tonic and mode);
- ``pc_cosine``: mean cosine of the accompaniment's and the melody's pitch-class histograms;
- ``consonance``: share of (sounding accompaniment pitch, sounding melody pitch) pairs, counted at
  every step, whose interval class is consonant (``CONSONANT``: unison and octave, minor and
  major thirds and sixths, the perfect fifth; the fourth is counted as a dissonance, as against
  the bass in common-practice harmony).

A key-normalised model is told the key of the melody's first ``PRIME_BEATS`` beats (what a key
frame has heard from the musician by then): each held-out piece is moved by it. The baselines'
training files are moved as the trainer moved them (both parts by the key of the whole piece).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from liveplay.config import SamplerSettings
from liveplay.model.bundle import Bundle
from liveplay.model.engine import Engine
from liveplay.model.keyframe import key_normalised
from liveplay.music.context import Context, with_start
from liveplay.music.duet import RESTART_PRIME, Duet, duet_ids, is_accompaniment, ours_before_theirs
from liveplay.music.keys import key_of, pitch_class_histogram, tonic_shift
from liveplay.music.midifile import load_token_files, read_duet
from liveplay.music.sampler import Sampler
from liveplay.music.tokens import HOLD, REST, REST_ID, RawToken, sounding
from liveplay.offline.evaluate import (Scores, at_most, chord_targets, combine, fit_baselines, score, score_engine,
                                       training_files)
from liveplay.offline.listening import PRIME_BEATS, collection
from liveplay.offline.memory import parts_in_reference_key
from liveplay.offline.musicality import chord_share, cosine
from liveplay.offline.progress import progress

log = logging.getLogger(__name__)

CONSONANT = frozenset({0, 3, 4, 7, 8, 9})  # interval classes (semitones mod 12) counted consonant
FIGURES = ("chord_share", "doubling", "key_agreement", "pc_cosine", "consonance")


def load_duets(bundle: Bundle, paths: Sequence[str | Path], skip_drums: bool = True) -> list[tuple[str, Duet]]:
    """(file, duet on the model's grid) of every readable multi-part file."""
    g = bundle.grid
    return [(str(p), d) for p, d in load_token_files(paths, g.steps_per_beat, g.max_notes, skip_drums, progress,
                                                      read=read_duet, voicing=g.voicing)]


def in_melody_key(bundle: Bundle, duets: Sequence[tuple[str, Duet]]) -> list[tuple[str, Duet]]:
    """Each piece moved by the key of its melody's first ``PRIME_BEATS`` beats (module docstring)."""
    steps = PRIME_BEATS * bundle.grid.steps_per_beat
    moved = [(name, d.transposed(tonic_shift(d.melody[:steps])) or d) for name, d in duets]
    return moved


def sequence(bundle: Bundle, duet: Duet) -> list[int]:
    """A duet as the model reads it: start pair, then accompaniment and melody by step."""
    return with_start(duet_ids(bundle.vocab.encode(duet.accompaniment), bundle.vocab.encode(duet.melody)))


def accompany(engine: Engine, sampler: Sampler, melody: Sequence[int], steps: int | None = None) -> list[int]:
    """liveplay's ids for the first ``steps`` steps of ``melody`` (ids): at each step one drawn
    for liveplay's position, then the melody's own token pushed at the musician's. As the daemon
    waits for the musician (``live.performance.Voice.wait``), liveplay rests until the melody's
    first note, which it hears at the top of the piece: the start pair, then our REST."""
    melody = list(melody[:steps])
    first = next((k for k, t in enumerate(melody) if t != REST_ID), None)
    if first is None:
        return [REST_ID] * len(melody)
    ours = [REST_ID] * (first + 1)
    context = Context(engine, RESTART_PRIME)
    context.push(melody[first])
    for mel in melody[first + 1:]:
        token = sampler.sample(context.distribution(), ours_before_theirs(context.ids))  # as the daemon's Voice.ours
        context.push(token)
        context.push(mel)
        ours.append(token)
    return ours


def figures(accompaniment: Sequence[RawToken], melody: Sequence[RawToken]) -> dict:
    """One piece's counts behind the figures (module docstring), accompaniment against melody."""
    mel_sounding, acc_sounding = sounding(melody), sounding(accompaniment)
    onsets = doubled = pairs = consonant = 0
    for k, t in enumerate(accompaniment):
        mel_classes = {p % 12 for p in mel_sounding[k]}
        if t not in (REST, HOLD) and mel_classes:
            onsets += 1
            doubled += any(p % 12 in mel_classes for p in t)
        for a in acc_sounding[k]:
            for m in mel_sounding[k]:
                pairs += 1
                consonant += abs(a - m) % 12 in CONSONANT
    h_acc, h_mel = pitch_class_histogram(accompaniment), pitch_class_histogram(melody)
    k_mel = key_of(h_mel)
    return {"onsets_under_melody": onsets, "doubled": doubled, "pairs": pairs, "consonant": consonant,
            "key": float(k_mel is not None and key_of(h_acc) == k_mel), "cosine": cosine(h_acc, h_mel)}


def summary(rows: Sequence[dict], accompaniments: Sequence[Sequence[RawToken]]) -> dict:
    """The figures over pieces: shares pooled over onsets and pairs, key and cosine per piece."""
    if not rows:
        return {}
    total = {k: sum(r[k] for r in rows) for k in ("onsets_under_melody", "doubled", "pairs", "consonant")}

    def share(a, b):
        return round(a / b, 4) if b else float("nan")

    return {"chord_share": round(chord_share([t for acc in accompaniments for t in acc]), 4),
            "doubling": share(total["doubled"], total["onsets_under_melody"]),
            "key_agreement": round(float(np.mean([r["key"] for r in rows])), 4),
            "pc_cosine": round(float(np.mean([r["cosine"] for r in rows])), 4),
            "consonance": share(total["consonant"], total["pairs"])}


def evaluate_duet(bundle: Bundle, engine: Engine, data: Sequence[str | Path], sampler_settings: SamplerSettings,
                  train_data: Sequence[str | Path] | None = None, skip_drums: bool = True, baselines: bool = True,
                  orders: Sequence[int] = (2, 3, 4), ppm_order: int = 8, most: int | None = None,
                  steps: int = 512, seed: int = 0) -> dict:
    """Prediction of liveplay's part against the baselines, and accompaniments of the held-out
    melodies (at most ``steps`` steps of each) next to the real ones; per collection and over all."""
    pieces = load_duets(bundle, data, skip_drums)
    if most is not None:
        pieces = at_most(pieces, most)
    if key_normalised(bundle):
        pieces = in_melody_key(bundle, pieces)
    groups: dict[str, list[list[int]]] = {}
    for name, duet in pieces:
        groups.setdefault(collection(name), []).append(sequence(bundle, duet))
    chords = chord_targets(bundle.vocab)
    report: dict = {"model": str(bundle.path), "kind": "duet", "files": len(pieces),
                    "by_collection": {g: {"files": len(s), "baselines": {}} for g, s in sorted(groups.items())}}
    by = report["by_collection"]
    log.info("scoring liveplay's part of %d piece(s)", len(pieces))
    for g, seqs in progress(list(groups.items()), len(groups), "scoring", "collection"):
        by[g]["model"] = asdict(score_engine(engine, seqs, chords, is_accompaniment))
    report["model_scores"] = asdict(combine([_scores(by[g]["model"]) for g in by]))
    report["baselines"] = {}
    if train_data is None and baselines:
        train_data = training_files(bundle)
    if baselines and train_data:
        train_seqs = [sequence(bundle, Duet(*parts_in_reference_key(d.parts)) if key_normalised(bundle) else d)
                      for _, d in load_duets(bundle, train_data, skip_drums)]
        for name, baseline in fit_baselines(train_seqs, bundle.architecture.vocab_size, orders, ppm_order):
            for g, seqs in groups.items():
                by[g]["baselines"][name] = asdict(score(baseline.distribution, seqs, chords, is_accompaniment))
            report["baselines"][name] = asdict(combine([_scores(by[g]["baselines"][name]) for g in by]))
            log.info("%s: perplexity of liveplay's part %.3f", name, report["baselines"][name]["perplexity"])
    elif baselines:
        log.warning("no training data on disk: baselines skipped (give --train-data)")
    report["accompaniment"] = accompaniments(bundle, engine, sampler_settings, pieces, steps, seed)
    return report


def accompaniments(bundle: Bundle, engine: Engine, sampler_settings: SamplerSettings,
                   pieces: Sequence[tuple[str, Duet]], steps: int, seed: int) -> dict:
    """The figures of the model's accompaniments and of the real ones, per collection and over all."""
    made: dict[str, list] = {"model": [], "data": []}
    for i, (name, duet) in enumerate(progress(pieces, len(pieces), "accompanying", "piece")):
        melody = duet.melody[:steps]
        sampler = Sampler(replace(sampler_settings, seed=seed + i))
        ours = bundle.vocab.decode(accompany(engine, sampler, bundle.vocab.encode(melody)))
        for who, acc in (("model", ours), ("data", duet.accompaniment[:steps])):
            made[who].append((collection(name), figures(acc, melody), acc))
    out: dict = {"steps": steps}
    for group in sorted({g for g, _, _ in made["model"]}) + ["all"]:
        out[group] = {who: summary([r for g, r, _ in rows if group in (g, "all")],
                                   [a for g, _, a in rows if group in (g, "all")]) for who, rows in made.items()}
        out[group]["pieces"] = sum(1 for g, _, _ in made["model"] if group in (g, "all"))
    return out


def _scores(d: dict) -> Scores:
    return Scores(**d)


def report_lines(report: dict) -> list[str]:
    """The report as text lines (the CLI prints them)."""
    lines = [f"duet model {report['model']} on {report['files']} file(s): liveplay's part "
             "(the accompaniment), predicted after the musician's step",
             f"{'':16} {'accuracy':>9} {'top-5':>7} {'chord top-5':>12} {'perplexity':>11} {'predictions':>12}"]
    sections = [("all", report["model_scores"], report["baselines"])]
    if len(report["by_collection"]) > 1:
        sections += [(g, c["model"], c["baselines"]) for g, c in report["by_collection"].items()]
    for group, model, fitted in sections:
        if len(sections) > 1:
            files = report["files"] if group == "all" else report["by_collection"][group]["files"]
            lines.append(f"{group} ({files} files)")
        for name, s in [("model", model)] + list(fitted.items()):
            lines.append(f"  {name:14} {s['accuracy']:9.4f} {s['top5']:7.4f} {s['chord_top5']:12.4f} "
                         f"{s['perplexity']:11.3f} {s['predictions']:12d}")
    acc = report["accompaniment"]
    lines.append(f"accompaniments of the held-out melodies (first {acc['steps']} steps): model | the real one")
    for group, f in acc.items():
        if group == "steps" or not f["model"]:
            continue
        lines.append(f"  {group:16} {f['pieces']:4d} pieces  " + "  ".join(
            f"{k.replace('_', ' ')} {f['model'][k]:.3f} | {f['data'][k]:.3f}" for k in FIGURES))
    return lines
