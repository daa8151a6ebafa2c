"""Live timing on a real JACK server: onset error vs the grid, late steps, CPU, RSS, start-up.

Starts a private ``jackd -d dummy -p 128`` (2.67 ms periods, asynchronous: as a musician runs it), runs ``liveplay run --mode solo``
on the given model, records its output with a JACK client that stamps every arrival with
``time.monotonic()`` in the rtmidi callback, and fits the grid (least squares on step
index) to the onsets. For each tempo/grid: onset error p50 / p99 / max (ms), fitted
tempo error, late steps (the daemon's own count), the daemon's CPU % and peak RSS, and
start-up time from spawning the process to its first step boundary.

    python benchmarks/live.py [--model models/default] [--seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from jacktools import (Daemon, JackServer, Recorder, error_stats, grid_fit, onset_times,  # noqa: E402
                       private_jack)

CASES = [("120 BPM eighths", 120, 2), ("240 BPM sixteenths", 240, 4)]


def proc_stats(pid: int) -> tuple[float, float]:
    """(user+system CPU seconds, peak RSS MB) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    import os

    cpu = ticks / os.sysconf("SC_CLK_TCK")
    hwm = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return cpu, int(hwm.group(1)) / 1024


def run_case(server: JackServer, model: str, tempo: float, spb: int, seconds: float, tmp: Path) -> dict:
    config = tmp / f"live{spb}.yaml"
    config.write_text(f"log_level: debug\nlive:\n  steps_per_beat: {spb}\nsampler:\n  seed: 1\n")
    spawned = time.monotonic()
    d = Daemon(server, ["--config", str(config), "--model", model, "--mode", "solo", "--tempo", str(tempo)],
               tmp / f"daemon{spb}.log")
    rec = Recorder(d.out_port, name=f"recorder{spb}")
    try:
        cpu0, _ = proc_stats(d.proc.pid)
        t0 = time.monotonic()
        time.sleep(seconds)
        cpu1, rss = proc_stats(d.proc.pid)
        t1 = time.monotonic()
        code = d.stop(signal.SIGTERM)
    finally:
        rec.close()
    log = d.log()
    first = float(re.search(r"first boundary at monotonic ([\d.]+)", log).group(1))
    late = d.late_steps()
    step = 60 / tempo / spb
    onsets = onset_times(rec.note_ons())
    residuals, fitted = grid_fit(onsets, step)
    err = np.abs(residuals)
    return {"tempo_bpm": tempo, "steps_per_beat": spb, "seconds": seconds, "exit_code": code,
            "onsets": int(len(onsets)), "steps": int(round((onsets[-1] - onsets[0]) / step)) + 1,
            "onset_error_ms": error_stats(err),
            "tempo_error_pct": float(100 * (step / fitted - 1)), "late_steps": late,
            "cpu_percent": float(100 * (cpu1 - cpu0) / (t1 - t0)), "peak_rss_mb": float(rss),
            "startup_to_first_boundary_s": float(first - spawned), "notes_left_sounding": len(rec.sounding())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with private_jack() as (server, tmp):
        results = {name: run_case(server, args.model, tempo, spb, args.seconds, tmp) for name, tempo, spb in CASES}
    results["jack_period_ms"] = server.period_ms
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"JACK dummy, period {server.period_ms:.2f} ms; model {args.model}; recorder stamps with time.monotonic()")
    print(f"{'case':20} {'onsets':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'tempo err %':>11} {'late':>5} "
          f"{'CPU %':>6} {'RSS MB':>7} {'start s':>7} {'hanging':>7}")
    for name, _, _ in CASES:
        r = results[name]
        e = r["onset_error_ms"]
        print(f"{name:20} {r['onsets']:6d} {e['p50']:7.2f} {e['p99']:7.2f} {e['max']:7.2f} {r['tempo_error_pct']:11.4f} "
              f"{r['late_steps']:5d} {r['cpu_percent']:6.1f} {r['peak_rss_mb']:7.0f} "
              f"{r['startup_to_first_boundary_s']:7.2f} {r['notes_left_sounding']:7d}")


if __name__ == "__main__":
    main()
