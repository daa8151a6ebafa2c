#!/usr/bin/env bash
# The listening model's figures, as quoted in models/default/README.md and docs/LISTENING.md.
#   scripts/listening_figures.sh MODEL OUT_DIR [MOST]
# MODEL's own test split (at most MOST files a collection, the same ones every time; default 60),
# with the baselines; the two collections outside the training mix (data/outside: `liveplay corpus
# data/outside --set ryans --set palestrina --limit 150`); 20 test files a collection as they are and moved by 6.
# Each writes OUT_DIR/NAME.json (liveplay evaluate --json). Needs data/mix (`liveplay corpus data/mix`).
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 out=$2 most=${3:-60}
mkdir -p "$out"
lp=(.venv/bin/liveplay evaluate --model "$model" --json --seed 0)
"${lp[@]}" --split test --most "$most" --generations 10 --steps 512 > "$out/test.json"
"${lp[@]}" data/outside/ryans data/outside/palestrina --most "$most" --no-baselines --generations 1 \
    --steps 64 > "$out/outside.json"
for semitones in 0 6; do  # the same pieces, and a tritone away: "as well in F# as in C"
    "${lp[@]}" --split test --most 20 --no-baselines --generations 1 --steps 64 --transpose "$semitones" \
        > "$out/transpose$semitones.json"
done
