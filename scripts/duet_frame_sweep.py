#!/usr/bin/env python3
"""A duet's key frame chosen on the validation split, as the daemon plays: concert pitch, the key unknown.

``evaluate`` tells a key-normalised duet model the key of the melody's first 16 beats; live,
nobody does: the daemon's ``KeyFrame`` has to hear it (``model/keyframe.py``). Here every
validation melody is played *in its own key* from its first note for ``--beats`` beats, through
the daemon's stack (``keyframe.for_play`` around the exact engine and the ear at
``model.harmony``), and accompanied as ``evaluate`` does (``duet_eval.accompany``, the sampler's
defaults for accompaniment or ``--heat`` for ``sampler.accompany_heat``, seeded per piece and
``--seeds``). Each variant (``--set NAME:steps=N,hold=N,settle=N``; ``shipped`` is always run)
prints the accompaniment figures next to the real accompaniment's, and ``frame_right``: the share
of liveplay's decisions taken in the key of the whole excerpt's melody (``keys.tonic_shift``).
``--oracle`` adds a frame told that key from the first step: the most a frame can give. ``--ear``
measures other weights of the accompanist's ear (``model/harmony.py``), ``--rehear N`` a spare
engine that hears the last N tokens again in the new frame when the shift moves (``keyframe``;
the default is the daemon's, ``DUET_REHEAR``; 0: none, the move heard as a modulation).

    .venv/bin/python scripts/duet_frame_sweep.py --beats 64 --seeds 0,100 --oracle \\
        --set window64:steps=64,hold=64,settle=8
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
from liveplay.model.harmony import CONSONANCE, DOUBLING, KEY, HarmonyEngine  # noqa: E402
from liveplay.model.keyframe import DUET_FRAME, DUET_REHEAR, KeyFrame, for_play  # noqa: E402
from liveplay.model.runtime import make_engine  # noqa: E402
from liveplay.music.duet import MELODY  # noqa: E402
from liveplay.music.keys import tonic_shift  # noqa: E402
from liveplay.music.sampler import Sampler  # noqa: E402
from liveplay.music.tokens import HOLD, REST  # noqa: E402
from liveplay.offline.duet_eval import accompany, figures, load_duets, summary  # noqa: E402


class Told(KeyFrame):
    """A frame that knows the key before it hears a note (``--oracle``): ``told``, set before each
    piece, is its shift from the reset on."""

    told = 0

    def reset(self, tokens=()) -> int:
        super().reset(tokens)
        self.shift = self.told
        return self.shift

    def hear(self, token) -> int:
        self._count(token)
        return self.shift


class Watched:
    """The frame's shift at each of liveplay's decisions."""

    def __init__(self, engine, seen: list[int]):
        self.engine, self.seen = engine, seen

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def distribution(self):
        self.seen.append(self.engine.shift)
        return self.engine.distribution()


def variant(text: str) -> tuple[str, dict]:
    name, _, pairs = text.partition(":")
    return name, {k.strip(): int(v) for k, _, v in (p.partition("=") for p in filter(None, pairs.split(",")))}


def excerpts(bundle, beats: int) -> list[tuple[list, list]]:
    """(melody, real accompaniment) of ``beats`` beats from each validation melody's first note."""
    steps, out = beats * bundle.grid.steps_per_beat, []
    for _, d in load_duets(bundle, bundle.manifest.training.files.validation):
        first = next((k for k, t in enumerate(d.melody) if t not in (REST, HOLD)), None)
        if first is not None:
            out.append((d.melody[first:first + steps], d.accompaniment[first:first + steps]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/duet")
    p.add_argument("--beats", type=int, default=24, help="beats of each melody (24: benchmarks/accompany.py's)")
    p.add_argument("--seeds", default="0", help="sampler seed offsets, comma-separated (figures: their mean)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME:steps=N,hold=N,settle=N")
    p.add_argument("--oracle", action="store_true", help="also a frame told the excerpt's key")
    p.add_argument("--ear", default=f"{KEY:g},{CONSONANCE:g},{DOUBLING:g}", metavar="KEY,CONSONANCE,DOUBLING",
                   help="the ear's weights at model.harmony 1 (default: model/harmony.py's)")
    p.add_argument("--heat", type=float, help="the sampler's heat for the duet (default: sampler.accompany_heat)")
    p.add_argument("--rehear", type=int, default=DUET_REHEAR, help="tokens a spare engine re-hears in the new "
                   f"frame when the shift moves (default {DUET_REHEAR}, keyframe.DUET_REHEAR: as the daemon plays; "
                   "0: none, a modulation)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings().override({"sampler.accompany_heat": args.heat})
    bundle = load_bundle(args.model)
    experts = tuple(float(w) for w in args.ear.split(","))

    def make():
        engine = make_engine(bundle, "numpy", 1)
        return HarmonyEngine(engine, bundle.vocab, settings.model.harmony, experts) if settings.model.harmony > 0 else engine

    engine = make()
    spare = make() if args.rehear else None  # re-hears a move of the frame (as the daemon's duet does)
    pieces = excerpts(bundle, args.beats)
    seeds = [int(s) for s in args.seeds.split(",")]
    real = [a for _, a in pieces]
    results = {"model": args.model, "pieces": len(pieces), "beats": args.beats, "seeds": seeds,
               "harmony": settings.model.harmony, "ear": experts, "rehear": args.rehear, "heat": settings.sampler.accompany_heat,
               "real": summary([figures(a, m) for m, a in pieces], real)}
    variants = [("shipped", dict(DUET_FRAME))] + [variant(v) for v in args.sets]
    if args.oracle:
        variants.append(("oracle", {**DUET_FRAME, "oracle": 1}))
    for name, frame_args in variants:
        kw = {k: v for k, v in frame_args.items() if k != "oracle"}
        frame = (Told if "oracle" in frame_args else KeyFrame)(parts=2, listen=MELODY, **kw)
        play, framed = for_play(bundle, engine, frame, spare, args.rehear)  # reset with each piece's context
        runs, right = [], []
        for seed in seeds:
            made, rows = [], []
            for i, (melody, _) in enumerate(pieces):
                truth = tonic_shift(melody)
                if isinstance(frame, Told):
                    frame.told = truth
                seen: list[int] = []
                ours = play.decode(accompany(Watched(framed, seen), Sampler(replace(settings.sampler.accompanying(), seed=seed + i)),
                                             play.encode(melody)))
                right += [s == truth for s in seen]
                made.append(ours)
                rows.append(figures(ours, melody))
            runs.append(summary(rows, made))
        results[name] = {**frame_args, "frame_right": round(float(np.mean(right)), 4),
                         **{k: round(float(np.mean([r[k] for r in runs])), 4) for k in runs[0]}}
        if not args.json:
            print(name, json.dumps(results[name]), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("real", json.dumps(results["real"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
