"""Fresh clone to first note: `scripts/run` on a headless machine, timed to the first note-on a JACK recorder hears.

Clones this repository into a scratch folder and starts `scripts/run` there with PIP_NO_CACHE_DIR=1
(every package downloaded, as on a new machine). It sets up the runtime .venv, starts the private
JACK dummy server 'liveplay-dummy' and the daemon in solo mode. A recorder (tests/jacktools.py) is
connected to 'liveplay:liveplay out' as soon as that port exists; the CC 120/123 that liveplay sends
when it opens its output arrive before any note, which shows the recorder was listening in time.
Reported: seconds from `scripts/run`'s start to the server answering, to the port, to the first
note-on heard; and the venv's size. Debian's jackd2, fluidsynth and fluid-soundfont-gm must be
installed already (a first `scripts/run` adds them through apt; not timed here).

    .venv/bin/python benchmarks/first_note.py [RUNS]    # no JACK server named liveplay-dummy may be running
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from jacktools import Recorder, connect  # noqa: E402
from liveplay.live.jackgraph import JackGraph  # noqa: E402
from liveplay.live.jacknoise import quiet_libjack  # noqa: E402

SERVER, PORT = "liveplay-dummy", "liveplay:liveplay out"


def one_run(scratch: Path, run: int) -> dict:
    clone = scratch / f"clone{run}"
    start = time.monotonic()
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    cloned = time.monotonic() - start
    env = {k: v for k, v in os.environ.items() if k not in ("JACK_DEFAULT_SERVER", "VIRTUAL_ENV")}
    env["PIP_NO_CACHE_DIR"] = "1"
    log = open(scratch / f"run{run}.log", "w")
    start = time.monotonic()
    proc = subprocess.Popen(["scripts/run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    figures = {"clone": cloned}
    graph = recorder = None
    try:
        while graph is None:
            if proc.poll() is not None:
                raise RuntimeError(f"scripts/run exited with {proc.returncode}; see {log.name}")
            graph = JackGraph.open("first-note-watch")
            time.sleep(0.02 if graph is None else 0)
        figures["server"] = time.monotonic() - start
        recorder = Recorder(None, name="first-note")
        while not graph.exists(PORT):
            time.sleep(0.002)
        figures["port"] = time.monotonic() - start
        connect(PORT, "first-note:in")
        while not recorder.note_ons():
            if time.monotonic() - start > 300:
                raise RuntimeError(f"no note in 300 s; see {log.name}")
            time.sleep(0.005)
        events = recorder.snapshot()
        first = recorder.note_ons()[0]
        figures["first_note"] = first.time - start
        figures["heard_before"] = [e.message.type + (f" {e.message.control}" if e.message.type == "control_change"
                                                     else "") for e in events if e.time < first.time]
    finally:  # our clients first: a client whose server died must not be closed (libjack crashes)
        if recorder is not None:
            recorder.close()
        if graph is not None:
            graph.close()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    figures["venv_mb"] = int(subprocess.run(["du", "-sm", str(clone / ".venv")], capture_output=True,
                                            text=True).stdout.split()[0])
    return figures


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    os.environ["JACK_DEFAULT_SERVER"] = SERVER  # this process watches and records on scripts/run's server
    os.environ["JACK_NO_START_SERVER"] = "1"
    quiet_libjack()  # libjack's "cannot connect" while the server is not up yet
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            f = one_run(Path(tmp), run)
            print(f"run {run + 1}: clone {f['clone']:.1f} s; from scripts/run's start: server {f['server']:.1f} s, "
                  f"port {f['port']:.1f} s, first note-on {f['first_note']:.1f} s (before it: "
                  f"{', '.join(f['heard_before']) or 'nothing'}); venv {f['venv_mb']} MB", flush=True)
            time.sleep(2)  # the server gone before the next run starts one of the same name


if __name__ == "__main__":
    main()
