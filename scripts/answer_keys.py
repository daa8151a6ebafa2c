#!/usr/bin/env python3
"""Where the answers go: the key of each of many answers to a prime, as a move from the prime's key.

``liveplay evaluate`` says how often a continuation is in its prime's key; this says where the
others land -- the dominant (-5: a fifth up, a fourth down), the subdominant (+5), the subtonic
major (-2, a Dorian or Mixolydian piece read through major and minor profiles), the parallel mode
-- and where the music's own next 16 beats go. For the validation files of the collections named
(``--collections``), moved into the key frame as ``evaluate`` moves them, each prime answered
``--answers`` times (seeded) through the daemon's stack at each ``--key-keeping`` weight.
Diagnosis, not a choice of settings: the validation split only.

    .venv/bin/python scripts/answer_keys.py --key-keeping 0,0.25,0.5 --answers 16
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveplay.config import load_settings  # noqa: E402
from liveplay.model.bundle import load_bundle  # noqa: E402
from liveplay.model.runtime import engine_for, keeper_for  # noqa: E402
from liveplay.music.sampler import Sampler  # noqa: E402
from liveplay.offline import musicality as m  # noqa: E402
from liveplay.offline.evaluate import files_on_disk, in_key_frame, key_normalised, load_pieces  # noqa: E402
from liveplay.offline.generate import continue_ids  # noqa: E402
from liveplay.offline.listening import ANSWER_BEATS, PRIME_BEATS, collection  # noqa: E402

NAMES = "C C# D Eb E F F# G Ab A Bb B".split()
SAME = ("+0 maj->maj", "+0 min->min")  # the prime's key


def move(key, prime) -> str:
    """'+0 maj->maj' (the prime's key), '-5 min->min' (its dominant), ...: semitones from the
    prime's tonic to the key's, the shorter way, and the two modes."""
    if key is None or prime is None:
        return "none"
    d = (key[0] - prime[0]) % 12
    return f"{'+' if d <= 6 else '-'}{min(d, 12 - d)} {prime[1][:3]}->{key[1][:3]}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/default")
    p.add_argument("--collections", default="trecento,monteverdi,josquin")
    p.add_argument("--key-keeping", default="0,0.25", help="model.key_keeping weights (comma-separated)")
    p.add_argument("--answers", type=int, default=16)
    p.add_argument("--seed", type=int, default=1000)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    settings = load_settings()
    bundle = load_bundle(args.model)
    spb = bundle.grid.steps_per_beat
    wanted = set(args.collections.split(","))
    files = [f for f in files_on_disk(bundle, "validation") if collection(f) in wanted]
    pieces = load_pieces(bundle, files, settings.grid.skip_drums)
    if key_normalised(bundle):
        pieces = in_key_frame(bundle, pieces)
    p_steps, a_steps = PRIME_BEATS * spb, ANSWER_BEATS * spb
    pieces = [(f, t) for f, t in pieces if len(t) >= p_steps + a_steps]
    engine = engine_for(bundle, settings.model, "numpy", 1)
    for weight in (float(w) for w in args.key_keeping.split(",")):
        keeper = keeper_for(bundle, bundle.vocab, engine, weight)
        tally, truths = Counter(), Counter()
        for i, (f, tokens) in enumerate(pieces):
            prime, truth = tokens[:p_steps], tokens[p_steps: p_steps + a_steps]
            k_prime = m.key_of(m.pitch_class_histogram(prime))
            k_truth = move(m.key_of(m.pitch_class_histogram(truth)), k_prime)
            moves = Counter()
            for k in range(args.answers):
                sampler = Sampler(replace(settings.sampler, seed=args.seed + i + 100 * k))
                ids, _, _ = continue_ids(engine, sampler, bundle.vocab.encode(prime), a_steps, keeper)
                moves[move(m.key_of(m.pitch_class_histogram(bundle.vocab.decode(ids))), k_prime)] += 1
            tally.update(moves)
            truths[k_truth] += 1
            name = f"{collection(f)}/{Path(f).stem}"[:40]
            print(f"key keeping {weight:g}  {name:40} prime {NAMES[k_prime[0]] if k_prime else '-'} "
                  f"{k_prime[1][:3] if k_prime else ''}  its own next bars {k_truth:14} answers "
                  f"{dict(moves.most_common(4))}", flush=True)
        n = sum(tally.values())
        in_key = tally[SAME[0]] + tally[SAME[1]]
        print(f"key keeping {weight:g}: {in_key} of {n} answers ({in_key / max(n, 1):.2f}) in the prime's key; "
              f"the music's own next bars {truths[SAME[0]] + truths[SAME[1]]} "
              f"of {len(pieces)}; answers' moves {dict(tally.most_common())}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
