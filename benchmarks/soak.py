"""Soak: liveplay on a real JACK server for a long time, with a random player and random CCs.

240 BPM sixteenths (62.5 ms steps) in accompany mode, for --minutes (default 30). A random
player sends notes (some never released), chords, velocity-0 offs and random CCs -- the
temperature and mode controls, panic now and then, and CCs liveplay does not use -- but not
the tempo control, so the grid stays measurable. Reports: late steps, onset error vs the grid
(p50 / p99 / max, recorder stamps with time.monotonic()), RSS at start and end, notes left
sounding after SIGTERM (must be 0), and the exit code.

    python benchmarks/soak.py [--model models/default] [--minutes 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import time
from pathlib import Path

import mido
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from jacktools import (Daemon, Recorder, error_stats, grid_fit, onset_times, open_player,  # noqa: E402
                       private_jack, rss_kb)

TEMPO, SPB = 240, 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(1)
    with private_jack() as (server, tmp):
        config = tmp / "soak.yaml"
        config.write_text(f"live:\n  steps_per_beat: {SPB}\n  mode: accompany\nsampler:\n  seed: 1\n")
        d = Daemon(server, ["--config", str(config), "--model", args.model, "--tempo", str(TEMPO)],
                   tmp / "daemon.log")
        rec = Recorder(d.out_port)
        player = open_player(d.in_port)
        time.sleep(2.0)
        rss_start = rss_kb(d.proc.pid) / 1024
        end = time.monotonic() + 60 * args.minutes
        sent = 0
        while time.monotonic() < end:
            r = rng.random()
            if r < 0.6:
                notes = rng.sample(range(36, 96), rng.randint(1, 4))
                for n in notes:
                    player.send(mido.Message("note_on", note=n, velocity=rng.randint(30, 120)))
                time.sleep(rng.uniform(0.02, 0.4))
                for n in notes:
                    if rng.random() < 0.97:  # a few keys never released
                        player.send(mido.Message("note_on", note=n, velocity=0))
            elif r < 0.9:
                control = rng.choice([20, 20, 21, 1, 7, 64, 74])
                player.send(mido.Message("control_change", control=control, value=rng.randrange(128)))
            elif r < 0.905:
                player.send(mido.Message("control_change", control=23, value=127))  # panic
            sent += 1
            time.sleep(rng.uniform(0.01, 0.2))
        rss_end = rss_kb(d.proc.pid) / 1024
        code = d.stop(signal.SIGTERM)
        time.sleep(0.5)
        player.close()
        rec.close()
        late = d.late_steps()
    step = 60 / TEMPO / SPB
    onsets = onset_times([e for e in rec.note_ons() if e.message.channel == 0])
    residuals, fitted = grid_fit(onsets, step)
    err = np.abs(residuals)
    result = {"minutes": args.minutes, "tempo_bpm": TEMPO, "steps_per_beat": SPB, "player_events": sent,
              "onsets": int(len(onsets)), "late_steps": late,
              "onset_error_ms": error_stats(err),
              "tempo_error_pct": float(100 * (step / fitted - 1)), "rss_start_mb": rss_start, "rss_end_mb": rss_end,
              "notes_left_sounding": len(rec.sounding()), "exit_code": code, "jack_period_ms": server.period_ms}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    e = result["onset_error_ms"]
    print(f"soak {args.minutes:g} min at {TEMPO} BPM, {SPB} steps/beat, accompany, random player ({sent} events)")
    print(f"  onsets {result['onsets']}, late steps {late}, onset error p50 {e['p50']:.2f} / p99 {e['p99']:.2f} / "
          f"max {e['max']:.2f} ms, tempo error {result['tempo_error_pct']:.4f} %")
    print(f"  RSS {rss_start:.0f} MB -> {rss_end:.0f} MB, notes left sounding {result['notes_left_sounding']}, "
          f"exit code {code}")


if __name__ == "__main__":
    main()
