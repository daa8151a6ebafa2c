"""Flood: liveplay on a real JACK server while a client sends 10 000 messages/s for 10 s.

Accompany mode at 150 BPM eighths on the given model. The flood mixes notes on all 16
channels, note-offs, CCs and odd bytes (sysex, undefined and realtime status). Reports
onset error of liveplay's own notes against the grid during the flood (p50 / p99 / max),
late steps, input messages dropped by the bounded queue, RSS before and after, notes left
sounding after SIGTERM, and the exit code.

    python benchmarks/flood.py [--model models/default] [--rate 10000] [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from jacktools import (Daemon, Recorder, error_stats, flood, grid_fit, onset_times,  # noqa: E402
                       private_jack, raw_sender, rss_kb)

ODD = [[0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7], [0xF4], [0xF5], [0xFD], [0xF8], [0xFA], [0xFC], [0xFE], [0xFF]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tempo, spb = 150, 2
    with private_jack() as (server, tmp):
        d = Daemon(server, ["--model", args.model, "--mode", "accompany", "--tempo", str(tempo), "--seed", "1"],
                   tmp / "daemon.log")
        rec = Recorder(d.out_port)
        out = raw_sender(d.in_port)
        time.sleep(2.0)
        rss_before = rss_kb(d.proc.pid) / 1024
        start = time.monotonic()
        sent = flood(out, args.seconds, args.rate, random.Random(0), ODD)
        end = time.monotonic()
        time.sleep(1.0)
        rss_after = rss_kb(d.proc.pid) / 1024
        d.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        code = d.stop(signal.SIGTERM)
        time.sleep(0.3)
        out.close_port()
        rec.close()
        dropped = int(re.search(r"dropped input (\d+)", d.log()).group(1))
        late = d.late_steps()
    during = [e for e in rec.note_ons() if start <= e.time <= end and e.message.channel == 0]
    residuals, _ = grid_fit(onset_times(during), 60 / tempo / spb)
    err = np.abs(residuals)
    result = {"rate_per_s": args.rate, "seconds": args.seconds, "sent": sent, "dropped": dropped,
              "onsets_during_flood": int(len(onset_times(during))),
              "onset_error_ms": error_stats(err),
              "late_steps": late, "rss_before_mb": rss_before, "rss_after_mb": rss_after,
              "notes_left_sounding": len(rec.sounding()), "exit_code": code, "jack_period_ms": server.period_ms}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    e = result["onset_error_ms"]
    print(f"flood {sent} messages in {args.seconds:g} s ({args.rate}/s asked), {dropped} dropped by the input queue")
    print(f"  liveplay's onsets during the flood: {result['onsets_during_flood']}, error p50 {e['p50']:.2f} / "
          f"p99 {e['p99']:.2f} / max {e['max']:.2f} ms; late steps {late}")
    print(f"  RSS {rss_before:.0f} -> {rss_after:.0f} MB; notes left sounding {result['notes_left_sounding']}; "
          f"exit code {code}")


if __name__ == "__main__":
    main()
