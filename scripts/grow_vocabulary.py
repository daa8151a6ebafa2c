#!/usr/bin/env python3
"""A trained bundle on a new chord vocabulary, ready for `liveplay train` to go on from it
(``liveplay.offline.grow``: each new chord starts as the old chord it maps to).

    .venv/bin/python scripts/grow_vocabulary.py models/default data/runs/outer \\
        --max-notes 3 --voicing outer --size 4096
    liveplay train data/mix --out data/runs/outer --config models/listening-outer.train.yaml

The training files are the bundle's own (its manifest lists them), so the data it was trained
on must be where it was then.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveplay.config import VOICINGS  # noqa: E402
from liveplay.errors import LiveplayError  # noqa: E402
from liveplay.model.bundle import load_bundle  # noqa: E402
from liveplay.offline.grow import grow  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("bundle", help="the trained bundle")
    p.add_argument("out", help="folder of the grown bundle (resume it with liveplay train --out)")
    p.add_argument("--max-notes", type=int, required=True, help="notes a chord keeps (grid.max_notes)")
    p.add_argument("--voicing", choices=VOICINGS, required=True, help="which of them (grid.voicing)")
    p.add_argument("--size", type=int, required=True, help="chords in the vocabulary (grid.vocab_size)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if Path(args.out).exists():
        p.error(f"{args.out} exists: grow into a new folder")
    try:
        m = grow(load_bundle(args.bundle), args.out, args.max_notes, args.voicing, args.size)
    except (LiveplayError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {m.architecture.vocab_size} tokens, {m.architecture.parameter_count():,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
