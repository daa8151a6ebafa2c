#!/usr/bin/env python3
"""What a retrained vocabulary would hold: chord coverage of the held-out files by vocabulary
size, chord cap and voicing, before any training.

The bundle's training files, in the key frame the model trained in (``offline.memory.as_trained``:
each file by its own key, or each step by the key heard up to it; other models: as they are), give the chord counts; a vocabulary of
size V holds the V most frequent chords (``Vocabulary.build``). For each collection of the
held-out split (``--split``), the share of its chord onsets held exactly -- the figure
``liveplay evaluate`` reports as vocabulary coverage -- for every V in ``--sizes``, every cap in
``--caps`` (``grid.max_notes``) and every voicing in ``--voicings`` (``grid.voicing``: which
notes of a wider chord are kept); "polyphonic" is every collection but the two melody sets. Files
are read uncut, so every cap sees the whole chord.

    .venv/bin/python scripts/vocab_coverage.py --model models/default --sizes 1024,2048,4096,8192 \
        --caps 4,3 --voicings highest,outer
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from liveplay.model.bundle import load_bundle  # noqa: E402
from liveplay.music.midifile import load_token_files  # noqa: E402
from liveplay.music.tokens import HOLD, REST, make_chord  # noqa: E402
from liveplay.offline.evaluate import files_on_disk  # noqa: E402
from liveplay.offline.listening import collection  # noqa: E402
from liveplay.offline.memory import as_trained  # noqa: E402


MELODY = ("essen", "oneills")  # the melody collections (models/default/README.md)


def chords(paths, bundle, augment: str) -> dict[str, list[tuple]]:
    """Each readable file's chord onsets (raw, uncut), in the key frame the model trained in."""
    g, out = bundle.grid, {}
    for name, toks in load_token_files(paths, g.steps_per_beat, 128, True):
        out[str(name)] = [t for t in as_trained(augment, toks, g.steps_per_beat) if t not in (REST, HOLD)]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="models/default")
    p.add_argument("--split", default="test", choices=("validation", "test"))
    p.add_argument("--sizes", default="1024,2048,4096,8192", help="vocabulary sizes (chords)")
    p.add_argument("--caps", default="4", help="chord caps (notes kept)")
    p.add_argument("--voicings", default="highest", help="which notes a cap keeps: highest, outer")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    bundle = load_bundle(args.model, weights=False)
    augment = bundle.manifest.training.settings.get("augment", "all")
    train = chords(files_on_disk(bundle, "train"), bundle, augment)
    held = chords(files_on_disk(bundle, args.split), bundle, augment)
    sizes = [int(s) for s in args.sizes.split(",")]
    report = {"model": args.model, "split": args.split, "training_files": len(train), "held_files": len(held),
              "rows": []}
    for cap, voicing in ((int(c), v) for c in args.caps.split(",") for v in args.voicings.split(",")):
        counts = Counter(make_chord(c, cap, voicing) for seq in train.values() for c in seq)
        ranked = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        by: dict[str, list[tuple]] = {}
        for name, seq in held.items():
            by.setdefault(collection(name), []).extend(make_chord(c, cap, voicing) for c in seq)
        by["polyphonic"] = [c for g, seq in by.items() if g not in MELODY for c in seq]
        by["all"] = [c for g, seq in by.items() if g != "polyphonic" for c in seq]
        for size in sorted({min(s, len(ranked)) for s in sizes} | {len(ranked)}):  # the last: every chord
            inside = set(ranked[:size])
            row = {"cap": cap, "voicing": voicing, "size": size,
                   **{g: round(sum(c in inside for c in cs) / len(cs), 4) if cs else None for g, cs in by.items()}}
            report["rows"].append(row)
            if not args.json:
                print(json.dumps(row), flush=True)
        report.setdefault("distinct_training_chords", {})[f"{cap} {voicing}"] = len(ranked)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
