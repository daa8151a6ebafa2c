"""Following a MIDI clock under jitter: onset error vs the tick each onset belongs to, at 3 tempi.

Starts a private ``jackd -d dummy -p 128`` (2.67 ms periods, asynchronous: as a musician runs it), runs ``liveplay run --clock midi
--mode solo`` on the given model, and drives it with a JACK clock source of our own (Start, then
24 ticks a beat, each sent up to ``--jitter-ms`` early or late around an exact schedule). One
recorder hears both the clock and the daemon and stamps arrivals with ``time.monotonic()``, so
an onset's error is its time minus its boundary tick's time on one time base. JACK delivers our
reaction one period after the tick at best, so errors sit near one period.

Also the sent clock (``--send-clock``): tick intervals vs nominal, and the largest offset of
any tick from tick 0 + n nominal intervals (cumulative drift).

    python benchmarks/clock.py [--model models/default] [--seconds 30] [--jitter-ms 3] [--json]
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

from jacktools import (ClockSource, Daemon, JackServer, Recorder, error_stats, onset_times,  # noqa: E402
                       private_jack)

TEMPI = (80, 120, 180)


def follow_case(server: JackServer, model: str, tempo: float, seconds: float, jitter: float, tmp: Path) -> dict:
    config = tmp / "follow.yaml"
    config.write_text("log_level: debug\nsampler:\n  seed: 1\n")
    d = Daemon(server, ["--config", str(config), "--model", model, "--mode", "solo", "--clock", "midi"],
               tmp / f"follow{tempo}.log")
    rec = Recorder(d.out_port, name=f"rec{tempo}")
    daw = ClockSource(d.in_port, name=f"daw{tempo}", seed=tempo)
    rec.listen(f"daw{tempo}:out")
    try:
        time.sleep(0.5)
        daw.start()
        daw.ticks(seconds, tempo, jitter_ms=jitter)
        daw.stop()
        time.sleep(0.3)
        code = d.stop(signal.SIGTERM)
    finally:
        daw.close()
        rec.close()
    late = d.late_steps()
    spb = int(re.search(r"\((\d+) steps a beat\)", d.log()).group(1))
    tps = 24 // spb
    events = rec.snapshot()
    ticks = np.array([e.time for e in events if e.message.type == "clock"])
    onsets = onset_times(rec.note_ons())
    idx = np.searchsorted(ticks, onsets) - 1
    errors = (onsets - ticks[idx]) * 1000
    return {"tempo_bpm": tempo, "jitter_ms": jitter, "seconds": seconds, "exit_code": code,
            "onsets": int(onsets.size), "off_grid_onsets": int((idx % tps != 0).sum()), "late_steps": late,
            "onset_error_ms": error_stats(errors), "notes_left_sounding": len(rec.sounding())}


def send_case(server: JackServer, model: str, tempo: float, seconds: float, tmp: Path) -> dict:
    config = tmp / "send.yaml"
    config.write_text("sampler:\n  seed: 1\n")
    rec = Recorder(None, name="recsend")  # liveplay connects to it on opening, so it hears Start too
    d = Daemon(server, ["--config", str(config), "--model", model, "--mode", "solo", "--send-clock",
                        "--tempo", str(tempo), "--out", "recsend:in"], tmp / "send.log", virtual_ports=False)
    try:
        time.sleep(seconds)
        d.stop(signal.SIGTERM)
    finally:
        d.stop()
        rec.close()
    ticks = np.array([e.time for e in rec.snapshot() if e.message.type == "clock"])
    sent = int(re.search(r"(\d+) MIDI clock ticks sent", d.log()).group(1))
    nominal = 60 / tempo / 24
    deviation = np.abs(np.diff(ticks) - nominal) * 1000
    n = np.round((ticks - ticks[0]) / nominal)  # by time, so a tick lost on the way shifts nothing
    offset = np.abs(ticks - ticks[0] - n * nominal) * 1000
    slope = np.polyfit(n, ticks, 1)[0]
    gaps = np.flatnonzero(np.diff(ticks) > 1.5 * nominal)  # a tick missing here (or very late)
    return {"tempo_bpm": tempo, "seconds": float(ticks[-1] - ticks[0]), "ticks": int(ticks.size), "ticks_sent": sent,
            "gaps_over_1.5_intervals": [[int(i), float(np.diff(ticks)[i] * 1000)] for i in gaps],
            "interval_deviation_ms": error_stats(deviation), "max_offset_from_schedule_ms": float(offset.max()),
            "tick_period_error_ppm": float(1e6 * (slope / nominal - 1))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--jitter-ms", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with private_jack() as (server, tmp):
        results = {"follow": [follow_case(server, args.model, t, args.seconds, args.jitter_ms, tmp) for t in TEMPI],
                   "send": send_case(server, args.model, 120, args.seconds, tmp)}
    results["jack_period_ms"] = server.period_ms
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"JACK dummy, period {server.period_ms:.2f} ms; model {args.model}; clock jitter +-{args.jitter_ms:g} ms")
    print(f"{'tempo':>6} {'onsets':>6} {'off grid':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'late':>5} "
          f"{'hanging':>7}")
    for r in results["follow"]:
        e = r["onset_error_ms"]
        print(f"{r['tempo_bpm']:6.0f} {r['onsets']:6d} {r['off_grid_onsets']:8d} {e['p50']:7.2f} {e['p99']:7.2f} "
              f"{e['max']:7.2f} {r['late_steps']:5d} {r['notes_left_sounding']:7d}")
    s = results["send"]
    dev = s["interval_deviation_ms"]
    print(f"sent clock at {s['tempo_bpm']} BPM over {s['seconds']:.1f} s ({s['ticks_sent']} ticks sent, "
          f"{s['ticks']} recorded): interval deviation "
          f"p50 {dev['p50']:.2f} / p99 {dev['p99']:.2f} / max {dev['max']:.2f} ms; largest offset from the schedule "
          f"{s['max_offset_from_schedule_ms']:.2f} ms; period error {s['tick_period_error_ppm']:.1f} ppm")


if __name__ == "__main__":
    main()
