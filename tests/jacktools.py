"""Real JACK helpers for the tests and benchmarks: a private dummy server, a recorder, the daemon.

Timing is judged from ``time.monotonic()`` stamps taken in the recorder's rtmidi
callback: the dummy driver's frame counter loses cycles on small shared
machines, so frame times would show false errors of several milliseconds.
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import mido
import numpy as np

from liveplay.live.ports import open_port

PERIOD_FRAMES = 256
RATE = 48000
PERIOD_MS = 1000 * PERIOD_FRAMES / RATE  # 5.33 ms
# what "takes effect within one step" allows past the step, in s: a JACK period on the way in and
# one on the way out, and 20 ms for a wake-up on a shared machine; an effect a step late still fails
ACT_MARGIN = 2 * PERIOD_MS / 1000 + 0.020
JACK = "mido.backends.rtmidi/UNIX_JACK"
# 256 frames (5.3 ms), a common musician's setting: at 128 this machine missed ~8 deadlines a
# second with two clients and nothing else running, at 256 under one in five seconds. At a missed
# deadline JACK's default asynchronous mode drops the late client's MIDI or delivers its last
# buffer twice; synchronous mode (-S) delays the cycle instead, so a count of messages is exact
# (the delay shows as timing error) -- but a client killed mid-cycle can wedge a synchronous
# server for good ("Driver is not running"), so only modules that count messages and kill no
# client ask for it (``JACK_SYNC = True`` in the module, read by conftest's ``jack_server``).
SYNC_FLAGS = ["-S", "-t", "2000"]


class JackServer:
    def __init__(self, log_dir: Path, sync: bool = False, frames: int = PERIOD_FRAMES):
        """``sync=True``: synchronous mode (SYNC_FLAGS); ``frames``: the period."""
        self.flags = SYNC_FLAGS if sync else []
        self.frames = frames
        self.period_ms = 1000 * frames / RATE
        if not shutil.which("jackd"):
            raise RuntimeError("jackd not installed (Debian package jackd2; scripts/setup installs it)")
        self.name = f"liveplay-test-{uuid.uuid4().hex[:8]}"
        self.env = dict(os.environ, JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")
        self.log = open(log_dir / f"{self.name}.log", "w")
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["jackd", *self.flags, "-n", self.name, "-d", "dummy", "-p", str(self.frames),
                                      "-r", str(RATE)], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jackd exited with {self.proc.returncode}; see {self.log.name}")
            if subprocess.run(["jack_lsp"], env=self.env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("jackd did not come up in 15 s")

    def answers(self) -> bool:
        """Whether the server is there and opens a client (``jack_lsp`` lists its ports)."""
        if self.proc.poll() is not None:
            return False
        try:
            return subprocess.run(["jack_lsp"], env=self.env, capture_output=True, timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def log_tail(self, chars: int = 3000) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-chars:]

    def activate(self) -> None:
        """Make this process's own JACK clients use this server."""
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        os.environ["JACK_NO_START_SERVER"] = "1"

    def stop(self, keep_log: bool = False) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if not keep_log:
            self.log.close()


def steady_stamps() -> None:
    """What the daemon does for its own threads (app.realtime_interpreter), for this process:
    a recorder's rtmidi callback runs in its JACK thread and must take the GIL to stamp a
    message. With TensorFlow loaded (the tiny model's training) a full collection here walks
    ~300 000 objects for ~150 ms, and in synchronous mode the whole server waits for it: a
    stall that reads as our onsets being late (one collection stamped a tick 196 ms late; frozen,
    the worst of 400 was 9 ms). So everything alive when a recorder opens is frozen out of the
    collector, and a waiting callback gets the GIL within 0.5 ms, not 5."""
    sys.setswitchinterval(0.0005)
    gc.collect()
    gc.freeze()


@contextmanager
def private_jack(sync: bool = False, frames: int = 128) -> Iterator[tuple[JackServer, Path]]:
    """A private dummy JACK server for this process, and a scratch folder; both gone afterwards.
    By default as a musician runs JACK for low latency (the benchmarks): asynchronous, 128 frames."""
    with tempfile.TemporaryDirectory() as tmp:
        server = JackServer(Path(tmp), sync, frames)
        server.activate()
        try:
            yield server, Path(tmp)
        finally:
            server.stop()


def error_stats(values: np.ndarray) -> dict:
    """p50 / p99 / max of a sample (ms), as the benchmarks report them."""
    return {"p50": float(np.median(values)), "p99": float(np.percentile(values, 99)), "max": float(values.max())}


def backend() -> mido.Backend:
    return mido.Backend(JACK, load=True)


def wait_for_port(kind: str, part: str, timeout: float = 60.0) -> str:
    """The name of the JACK port (as mido names it: ``kind`` "input" lists the ports an input can
    read) containing ``part``. One probing client asks ten times a second: mido's
    ``get_input_names`` opens and closes two JACK clients a call, and a server that sees hundreds
    of clients come and go while a daemon starts is a server under a load no musician's sees."""
    import rtmidi

    kind_of_client = rtmidi.MidiIn if kind == "input" else rtmidi.MidiOut
    probe = kind_of_client(rtapi=rtmidi.API_UNIX_JACK, name="liveplay-test-probe")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n in probe.get_ports():
                if part in n:
                    return n
            time.sleep(0.1)
    finally:
        probe.delete()
    raise TimeoutError(f"no JACK {kind} port containing '{part}' after {timeout} s")


@dataclass
class Received:
    time: float
    message: mido.Message


def connect(source: str, destination: str, timeout: float = 10.0) -> None:
    """jack_connect, retried until JACK has registered both ports."""
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(["jack_connect", source, destination], capture_output=True, text=True)
        if done.returncode == 0 or "already exists" in done.stderr:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"jack_connect {source!r} {destination!r}: {done.stderr.strip()}")
        time.sleep(0.05)


def jack_graph() -> str:
    """``jack_lsp -c``: every port and what it is connected to, for a failure's message."""
    try:
        done = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "jack_lsp -c: no answer in 10 s"
    return f"jack_lsp -c (exit {done.returncode}):\n{done.stdout}{done.stderr}"


SENDS = 3  # a control change is sent at most this often (send_control)


def send_control(d: "Daemon", port, control: int, value: int, text: str, wait: float) -> float:
    """Send a CC until ``text`` shows up in the daemon's log once more, ``wait`` s a try; the time
    of the send that took. A single message can be lost before it reaches liveplay: at a missed
    deadline JACK's asynchronous mode drops a late client's MIDI (jacktools), and a test that
    sends one CC once fails on that. A resend is a warning; ``SENDS`` lost in a row fail."""
    before = d.log().count(text)
    for attempt in range(SENDS):
        sent = time.monotonic()
        port.send(mido.Message("control_change", control=control, value=value))
        while time.monotonic() < sent + wait:
            if d.log().count(text) > before:
                return sent
            time.sleep(0.01)
        warnings.warn(f"CC {control} = {value}: no '{text}' in the daemon's log {wait:.2f} s after send "
                      f"{attempt + 1}; sent again")
    raise AssertionError(f"CC {control} = {value} sent {SENDS} times, never '{text}':\n{d.log()}\n{jack_graph()}")


def unique(name: str) -> str:
    """A JACK client name no earlier client of this process still holds (a closed mido port's
    client lives on until it is collected, and JACK would call the next one 'name-01': a connect
    by the plain name would then reach the old, dead port)."""
    return f"{name}-{uuid.uuid4().hex[:6]}"


def open_player(destination: str, name: str | None = None) -> mido.ports.BaseOutput:
    """A virtual JACK MIDI output of this process, connected to ``destination``."""
    name = name or unique("player")
    port = backend().open_output("out", virtual=True, client_name=name)
    connect(f"{name}:out", destination)
    return port


def raw_sender(destination: str, name: str | None = None):
    """A python-rtmidi JACK output connected to ``destination``: it sends any bytes, MIDI or not."""
    name = name or unique("badplayer")
    import rtmidi

    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=name)
    out.open_virtual_port("out")
    connect(f"{name}:out", destination)
    return out


def rss_kb(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def flood(out, seconds: float, rate: int, rng, odd: list[list[int]] = ()) -> int:
    """Random notes, note-offs, CCs (and ``odd`` raw messages) at ``rate`` per second; returns the count."""
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < seconds:
        target = int((time.monotonic() - start) * rate)
        while sent < target:
            r = rng.random()
            ch = rng.randrange(16)
            if r < 0.4:
                out.send_message([0x90 | ch, rng.randrange(128), rng.randrange(128)])
            elif r < 0.7:
                out.send_message([0x80 | ch, rng.randrange(128), 0])
            elif r < 0.9 or not odd:
                out.send_message([0xB0 | ch, rng.choice([1, 7, 64, 74]), rng.randrange(128)])
            else:
                out.send_message(rng.choice(odd))
            sent += 1
        time.sleep(0.0005)
    return sent


FLOOD_CHILD = """
import random, sys, time
sys.path.insert(0, sys.argv[1])
from jacktools import flood, raw_sender
out = raw_sender(sys.argv[2])
time.sleep(0.2)
odd = [[0xE0 | ch, 0, 64] for ch in range(16)]  # pitch bends among the notes and CCs
print(flood(out, float(sys.argv[3]), int(sys.argv[4]), random.Random(int(sys.argv[5])), odd), flush=True)
"""


def flood_from_child(destination: str, seconds: float, rate: int, seed: int = 0) -> subprocess.CompletedProcess:
    """``flood`` into ``destination`` from a child process (its stdout: the count sent).
    python-rtmidi's JACK output can crash the process it lives in when a stalled JACK cycle lets
    its ring buffer overflow (seen once on this 2-core machine under load); in a child, the
    test's own process -- and pytest -- live on to judge the daemon."""
    return subprocess.run([sys.executable, "-c", FLOOD_CHILD, str(Path(__file__).parent), destination,
                           str(seconds), str(rate), str(seed)], capture_output=True, text=True,
                          timeout=seconds + 60)


class JackInput:
    """A virtual JACK MIDI input of this process handing each message to ``callback`` (in JACK's
    thread), opened and closed as liveplay's own are (``ports.open_port``, whose ``Port.close``
    goes through inputs.InputCallback): mido's own close re-arms its callback just before the port
    closes, and a JACK thread stopped inside Python leaves this whole process hung on the GIL."""

    def __init__(self, client: str, port: str, callback: Callable[[mido.Message], None]):
        self.callback = callback
        self.port = open_port("jack", "input", None, client=client, port_name=port, on_bytes=self._on)
        self.closed = False

    def _on(self, event, _data) -> None:
        try:
            message = mido.Message.from_bytes(event[0])
        except ValueError:
            return
        self.callback(message)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.port.close()


class Recorder:
    """A JACK MIDI input connected to liveplay's output; stamps arrivals with time.monotonic()."""

    def __init__(self, source: str | None, name: str | None = None):
        self.events: list[Received] = []
        self.name = name = name or unique("recorder")
        self.lock = threading.Lock()
        steady_stamps()
        self.port = JackInput(name, "in", self._on)
        if source is not None:  # None: the source connects to us (e.g. liveplay run --out NAME:in)
            connect(source, f"{name}:in")

    def listen(self, source: str) -> None:
        """Record another JACK output too (e.g. the clock the daemon follows)."""
        connect(source, f"{self.name}:in")

    def _on(self, msg: mido.Message) -> None:
        stamp = time.monotonic()
        with self.lock:
            self.events.append(Received(stamp, msg))

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.events)

    def note_ons(self, after: float = 0.0) -> list[Received]:
        return [e for e in self.snapshot() if e.message.type == "note_on" and e.message.velocity > 0
                and e.time >= after]

    def sounding(self, at: float | None = None) -> set[int]:
        """Notes still on at the end, or at time ``at`` (note_off, velocity 0, CC 120 or 123 end them)."""
        on: set[int] = set()
        for e in self.snapshot():
            if at is not None and e.time > at:
                break
            m = e.message
            if m.type == "note_on" and m.velocity > 0:
                on.add(m.note)
            elif m.type in ("note_on", "note_off"):
                on.discard(m.note)
            elif m.type == "control_change" and m.control in (120, 123):
                on.clear()
        return on

    def close(self) -> None:
        self.port.close()


class Daemon:
    """``liveplay run`` as a subprocess on the test's JACK server."""

    def __init__(self, server: JackServer, args: list[str], log_path: Path, virtual_ports: bool = True,
                 ready: str = "playing JACK"):
        self.log_path = log_path
        self.logf = open(log_path, "w")
        env = dict(server.env, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="3",
                   XDG_CONFIG_HOME=str(log_path.parent / "no-user-config"))  # the tester's own file stays out
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "liveplay", "run", "--api", "jack", *args], env=env,
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        try:
            if virtual_ports:
                # our output is a source others read from: it lists among their inputs, and vice versa
                self.out_port = wait_for_port("input", "liveplay out")
                self.in_port = wait_for_port("output", "liveplay in")
            else:
                self.wait_for_log(ready)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"daemon did not open its ports:\n{self.log_path.read_text()}")

    def wait_for_log(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise TimeoutError(f"no '{text}' in the daemon's log")
            time.sleep(0.1)

    def log(self) -> str:
        if not self.logf.closed:
            self.logf.flush()
        return self.log_path.read_text()

    def late_steps(self) -> int:
        """The late steps the daemon counted, from its last line (after ``stop``)."""
        return int(re.search(r"stopped.*: every note silenced; (\d+) late step", self.log()).group(1))

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """The exit code; a daemon still there after ``timeout`` is sent SIGABRT, so its log ends
        with every thread's stack (the daemon's faulthandler) and the code is -6."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGABRT)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.logf.close()
        return self.proc.returncode


def onset_times(events: list[Received], gap: float = 0.004) -> np.ndarray:
    """Times of chord onsets: note_ons closer than ``gap`` belong to one onset (its first note)."""
    out: list[float] = []
    for e in events:
        if not out or e.time - out[-1] > gap:
            out.append(e.time)
    return np.asarray(out)


def grid_fit(times: np.ndarray, step: float) -> tuple[np.ndarray, float]:
    """Each onset's step index (nearest on the nominal grid), then a least-squares line through
    (index, time). Returns the residuals in ms and the fitted step in seconds."""
    idx = np.round((times - times[0]) / step)
    slope, intercept = np.polyfit(idx, times, 1)
    return (times - (intercept + slope * idx)) * 1000, float(slope)


def assert_on_time(errors_ms: np.ndarray, what: str = "onsets", context: str = "") -> None:
    """The tests' timing rule: 95 % of the errors within one JACK period and a millisecond (a
    message waits for the next period), and no more than one in a hundred (at least one) beyond
    three periods and a millisecond (a scheduler stall of this shared machine). Late playing
    fails it; the tails themselves are measured by benchmarks/ (BENCHMARKS.md), not asserted.
    ``context`` (e.g. the daemon's late-step lines) goes into the failure message."""
    errors = np.abs(np.asarray(errors_ms, dtype=float))
    worst = np.sort(errors)[-5:]
    tail = f"\n{context}" if context else ""
    assert np.percentile(errors, 95) <= PERIOD_MS + 1, \
        f"{what}: p95 {np.percentile(errors, 95):.2f} ms; worst {worst}{tail}"
    beyond = int((errors > 3 * PERIOD_MS + 1).sum())
    assert beyond <= max(1, errors.size // 100), \
        f"{what}: {beyond} of {errors.size} beyond 3 periods; worst {worst}{tail}"


class ClockSource:
    """A DAW's MIDI clock on a real JACK output: 24 ticks a beat, transport, song position.

    ``ticks(seconds, bpm_from, bpm_to, jitter_ms)`` sends ticks for ``seconds`` with the
    tempo ramping linearly, each tick sent up to ``jitter_ms`` early or late (uniform) around
    its exact time; the exact schedule has no jitter, so none accumulates.
    """

    def __init__(self, destination: str, name: str = "daw", seed: int = 0):
        self.out = raw_sender(destination, name)
        self.name = name
        self.rng = np.random.default_rng(seed)

    def send(self, *data: int) -> None:
        self.out.send_message(list(data))

    def start(self) -> None:
        self.send(0xFA)

    def stop(self) -> None:
        self.send(0xFC)

    def resume(self) -> None:
        self.send(0xFB)

    def song_position(self, sixteenths: int) -> None:
        self.send(0xF2, sixteenths & 0x7F, sixteenths >> 7)

    def ticks(self, seconds: float, bpm_from: float, bpm_to: float | None = None, jitter_ms: float = 0.0) -> int:
        bpm_to = bpm_from if bpm_to is None else bpm_to
        start = time.monotonic()
        exact, sent = start, 0
        while exact - start < seconds:
            bpm = bpm_from + (bpm_to - bpm_from) * (exact - start) / seconds
            due = exact + self.rng.uniform(-jitter_ms, jitter_ms) / 1000
            while (left := due - time.monotonic()) > 0:
                time.sleep(min(left, 0.002))
            self.send(0xF8)
            sent += 1
            exact += 60.0 / (bpm * 24)
        return sent

    def close(self) -> None:
        self.out.close_port()
        self.out.delete()
