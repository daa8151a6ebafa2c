"""Accompany mode on a real JACK server, with test-split melodies: what liveplay plays under them.

Starts a private ``jackd -d dummy`` and one ``liveplay run --mode accompany`` with ``model.duet``
set. For each of ``--pieces`` test-split files of the duet bundle (evenly spaced in name order, the
same every run) a scripted player plays the first ``--beats`` beats of the melody (the top part, from its
first note) in time, in its own key; then two silent beats and CC 25 (reset-context) before the
next piece. A recorder client hears liveplay's part; its onsets are put on the player's step grid
(quantised as the files are) and measured against the melody with the offline evaluation's
figures (``offline.duet_eval.figures``): chord share, doubling, key agreement, pitch-class
cosine, consonance -- next to the piece's real accompaniment of the same steps (the ceiling).
Late steps are the daemon's own count, with its log line for each (where the time went); hanging
notes are those sounding after SIGTERM.

    python benchmarks/accompany.py [--model models/default] [--duet models/duet] [--pieces 12]
                                   [--beats 32] [--tempo 100] [--no-duet] [--harmony H]
                                   [--split test|validation] [--realtime-priority P] [--load N]
                                   [--lead-in BEATS] [--json]

``--lead-in BEATS``: the musician comes in after that much silence, at the start and after each
reset-context (a player who starts when they like; the duet waits for their first note).

The daemon runs with ``LIVEPLAY_STALL_DUMP=1`` (``live/stepwatch.py``): a sender held past its
boundary writes every thread's stack, and the benchmark returns those stacks. Beside it runs a
**probe**, a separate process that wakes every millisecond (under SCHED_FIFO 1 where permitted,
below the daemon's step threads) and counts the gaps over ``PROBE_GAP``: a stall that holds the
probe too held the whole machine (the host, the kernel), not the daemon's own threads.

``--load N`` runs N busy processes (a Python loop each) beside the daemon for the whole run: other
work holding the cores, as a DAW, a synth or a build would (the late-step figure under load, with
and without ``--realtime-priority 0``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from jacktools import Daemon, Recorder, open_player, private_jack  # noqa: E402

from liveplay.live.stepwatch import STALL_DUMP  # noqa: E402
from liveplay.model.bundle import load_bundle  # noqa: E402
from liveplay.music.midifile import Note, notes_to_tokens, read_duet  # noqa: E402
from liveplay.music.tokens import HOLD, REST  # noqa: E402
from liveplay.offline.duet_eval import figures, summary  # noqa: E402

CHANNEL = 1  # the player's channel (liveplay plays on 1, the config's output_channel: index 0)
PROBE_GAP = 0.025  # s: a gap in the probe's 1 ms wake-ups this long is a stall of the machine
PROBE = f"""
import os, sys, time
try:
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
except (AttributeError, OSError):
    pass
last = time.monotonic()
while True:
    time.sleep(0.001)
    now = time.monotonic()
    if now - last > {PROBE_GAP}:
        print(f"{{1000 * (now - last):.1f}}", flush=True)
    last = now
"""


def excerpts(duet_path: str, pieces: int, beats: int, split: str = "test") -> list[tuple[str, list, list]]:
    """(file, melody tokens, real accompaniment tokens) of ``beats`` beats from the melody's first note."""
    bundle = load_bundle(duet_path, weights=False)
    spb, out = bundle.grid.steps_per_beat, []
    files = sorted(getattr(bundle.manifest.training.files, split))
    for i in np.unique(np.linspace(0, len(files) - 1, min(2 * pieces, len(files))).astype(int)):
        if len(out) == pieces:
            break
        path = files[i]
        try:
            d = read_duet(path, spb, bundle.grid.max_notes, voicing=bundle.grid.voicing)
        except Exception:  # a test file the trainer skipped (one part): not a duet
            continue
        first = next((k for k, t in enumerate(d.melody) if t not in (REST, HOLD)), None)
        if first is None:
            continue
        steps = slice(first, first + beats * spb)
        out.append((Path(path).name, d.melody[steps], d.accompaniment[steps]))
    return out


def play(port, melody: list, step: float) -> float:
    """The melody's tokens in time on ``port`` (a chord from its step to the next token that is
    not HOLD); returns the time of step 0."""
    start = time.monotonic() + 0.1
    sounding: tuple = ()
    for k, token in enumerate([*melody, REST]):
        while time.monotonic() < start + k * step:
            time.sleep(0.0005)
        if token == HOLD:
            continue
        for p in sounding:
            port.send(mido.Message("note_off", note=p, channel=CHANNEL))
        sounding = () if token == REST else tuple(token)
        for p in sounding:
            port.send(mido.Message("note_on", note=p, velocity=80, channel=CHANNEL))
    return start


def heard_tokens(rec: Recorder, start: float, steps: int, step: float, spb: int, max_notes: int) -> list:
    """liveplay's part on the player's grid, quantised as the files are (``midifile.notes_to_tokens``,
    the accompaniment's lowest notes): the recorded notes as beats from ``start``."""
    beat = step * spb
    notes, on = [], {}
    for e in rec.snapshot():
        m = e.message
        if m.channel != 0 or m.type not in ("note_on", "note_off"):
            continue
        at = (e.time - start) / beat
        if m.type == "note_on" and m.velocity > 0:
            on[m.note] = (at, m.velocity)
        elif m.note in on:
            begin, velocity = on.pop(m.note)
            notes.append(Note(m.note, begin, at, velocity, 0))
    notes += [Note(p, begin, steps / spb, v, 0) for p, (begin, v) in on.items()]  # sounding at the end
    notes = [n for n in notes if 0 <= round(n.start * spb) < steps]
    tokens = notes_to_tokens(notes, steps / spb, spb, max_notes, lowest=True)[:steps]
    return tokens + [REST] * (steps - len(tokens))


def stall_dumps(log: str) -> list[str]:
    """The stacks the daemon wrote for each stall (faulthandler: "Timeout (...)!" then one block a thread)."""
    dumps = []
    for block in log.split("Timeout (")[1:]:
        lines = ["Timeout (" + block.splitlines()[0]]
        for line in block.splitlines()[1:]:
            if not (line.startswith(("Thread ", "  File ", "Current thread ")) or line == ""):
                break
            lines.append(line)
        dumps.append("\n".join(lines).strip())
    return dumps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    parser.add_argument("--duet", default=str(ROOT / "models" / "duet"))
    parser.add_argument("--pieces", type=int, default=12)
    parser.add_argument("--beats", type=int, default=32)
    parser.add_argument("--tempo", type=float, default=100.0)
    parser.add_argument("--no-duet", action="store_true",
                        help="accompany without the duet model (model.duet: null), on the same melodies")
    parser.add_argument("--harmony", type=float, default=None,
                        help="model.harmony for the duet model (default: config.yaml's)")
    parser.add_argument("--split", choices=("test", "validation"), default="test",
                        help="whose melodies: validation compares the live path with scripts/duet_frame_sweep.py's")
    parser.add_argument("--realtime-priority", type=int, default=None,
                        help="live.realtime_priority (default: config.yaml's; 0: normal scheduling)")
    parser.add_argument("--load", type=int, default=0, help="busy processes beside the daemon")
    parser.add_argument("--lead-in", type=float, default=None, metavar="BEATS",
                        help="silence before each melody, after the start and after each reset-context "
                             "(default: 1 s before the first, a beat after each reset)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pieces = excerpts(args.duet, args.pieces, args.beats, args.split)
    grid = load_bundle(args.duet, weights=False).grid
    spb = grid.steps_per_beat
    step = 60 / args.tempo / spb
    ours, real = [], []
    os.environ[STALL_DUMP] = "1"  # the daemon's environment: the stacks of a stalled step
    with private_jack() as (server, tmp):
        config = tmp / "accompany.yaml"
        duet = "null" if args.no_duet else Path(args.duet).resolve()
        harmony = "" if args.harmony is None else f"  harmony: {args.harmony}\n"
        priority = "" if args.realtime_priority is None else f"live:\n  realtime_priority: {args.realtime_priority}\n"
        config.write_text(f"model:\n  duet: {duet}\n{harmony}sampler:\n  seed: 1\n{priority}")
        d = Daemon(server, ["--config", str(config), "--model", args.model, "--mode", "accompany",
                            "--tempo", str(args.tempo)], tmp / "daemon.log")
        rec = Recorder(d.out_port)
        port = open_player(d.in_port)
        load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
        probe = subprocess.Popen([sys.executable, "-c", PROBE], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(1.0 if args.lead_in is None else args.lead_in * spb * step)
            for name, melody, accompaniment in pieces:
                start = play(port, melody, step)
                time.sleep(2 * spb * step)
                ours.append((heard_tokens(rec, start, len(melody), step, spb, grid.max_notes), melody))
                real.append((accompaniment, melody))
                port.send(mido.Message("control_change", control=25, value=127))  # reset-context
                time.sleep(spb * step * (1 if args.lead_in is None else args.lead_in))
            code = d.stop(signal.SIGTERM)
            time.sleep(0.3)
        finally:
            for p in [*load, probe]:
                p.kill()
                p.wait()
            port.close()
            rec.close()
        late, hanging = d.late_steps(), len(rec.sounding())
        log = d.log()
        why_late = re.findall(r"step \d+ late \(.*", log)
        stacks = stall_dumps(log)
    machine = [float(x) for x in probe.stdout.read().split()]
    results = {"duet": None if args.no_duet else args.duet, "harmony": args.harmony, "split": args.split,
               "realtime_priority": args.realtime_priority, "load": args.load, "lead_in_beats": args.lead_in,
               "pieces": len(pieces), "beats": args.beats, "tempo_bpm": args.tempo, "exit_code": code,
               "late_steps": late, "late_step_lines": why_late, "stall_dumps": stacks,
               "machine_stalls_ms": machine, "notes_left_sounding": hanging,
               "liveplay": summary([figures(a, m) for a, m in ours], [a for a, _ in ours]),
               "real_accompaniment": summary([figures(a, m) for a, m in real], [a for a, _ in real])}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{len(pieces)} {args.split}-split melodies of {args.duet}, {args.beats} beats each at {args.tempo:g} BPM; "
          f"accompany plays {'the main model (no duet)' if args.no_duet else 'the duet model'}")
    print(f"{'':20} {'chords':>7} {'doubling':>9} {'key':>6} {'pc cos':>7} {'consonance':>10}")
    for who in ("liveplay", "real_accompaniment"):
        s = results[who]
        print(f"{who:20} {s['chord_share']:7.3f} {s['doubling']:9.3f} {s['key_agreement']:6.3f} "
              f"{s['pc_cosine']:7.3f} {s['consonance']:10.3f}")
    print(f"late steps {late}, notes left sounding {hanging}, exit code {code}")
    for line in why_late:  # where the time went (the daemon's own log: live/stepwatch.py)
        print(f"  {line}")
    for stack in stacks:
        print(stack)
    print(f"machine stalls (the probe held over {1000 * PROBE_GAP:.0f} ms): {len(machine)}"
          + (f", the longest {max(machine):.1f} ms" if machine else ""))


if __name__ == "__main__":
    main()
