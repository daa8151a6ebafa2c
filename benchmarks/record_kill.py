"""What a SIGKILL costs a --record session: the music heard before the kill vs what the file kept.

Runs `liveplay run --mode solo --tempo 120 --record jam.mid` on a private JACK dummy server three
times, records its output with a JACK client, SIGKILLs it after 8 to 9 s, and compares the span
of onsets heard with the span of onsets in the file (a bar is 2 s at 120 BPM).

    python benchmarks/record_kill.py
"""
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import mido
from jacktools import Daemon, Recorder, private_jack, onset_times
results = []
with private_jack() as (server, tmp):
    for run in range(3):
        out = tmp / f"jam{run}.mid"
        d = Daemon(server, ["--mode", "solo", "--tempo", "120", "--record", str(out), "--seed", str(run)], tmp / f"d{run}.log")
        rec = Recorder(d.out_port, name=f"rec{run}")
        time.sleep(8.0 + 0.37 * run)
        d.stop(signal.SIGKILL)
        time.sleep(0.3)
        rec.close()
        heard = onset_times(rec.note_ons())
        midi = mido.MidiFile(out)
        track = [t for t in midi.tracks if any(m.type == "track_name" and m.name == "liveplay" for m in t)][0]
        now, starts = 0, []
        for m in track:
            now += m.time
            if m.type == "note_on" and m.velocity:
                starts.append(now / midi.ticks_per_beat * 0.5)  # seconds at 120 BPM
        span_heard = heard[-1] - heard[0]
        span_file = starts[-1] - starts[0]
        results.append((round(span_heard, 2), round(span_file, 2), round(span_heard - span_file, 2), len(heard), len(set(starts))))
for r in results: print("heard span %.2f s, file span %.2f s, lost %.2f s (onsets heard %d, in file %d)" % r)
