"""Why a step was late: the player logs each late step with where the time went around it.

A late step (the sender reached a boundary before the thinker had decided it: it held instead)
is logged with:

- the thinker's phase then -- waiting, hearing, pushing, deciding or settling, for which step,
  and for how long it had been in it (a model step that ran long, or a thinker that started late),
  and the ``TRAIL`` phases before it with when each began, in ms from the boundary (a settle that
  ran into the next step's time shows there);
- how long after its time the boundary woke the sender (more than a millisecond or so: the whole
  process was held up, not only the thinker);
- since the boundary before: garbage collections (the longest, or one still running), major page
  faults (code or data read back from disk), minor page faults (memory the kernel had to find:
  with the memory short, it reclaims or compacts pages first, and the faulting thread waits,
  holding the GIL when it was running Python), involuntary context switches (the CPU taken by
  other work in this machine) and, on a virtual machine, **steal time** (the host ran something
  else on this machine's virtual CPUs: every thread of every process here stops at once, and no
  context switch is counted in it; ``/proc/stat``, in the kernel's 10 ms ticks summed over the CPUs).

With ``LIVEPLAY_STALL_DUMP=1`` in its environment the daemon also writes **every thread's
stack** to stderr when the sender has not come back to a boundary ``STALL_MARGIN`` after it was
due: at each boundary the sender sets faulthandler's timer (a C thread, so it acts whoever holds
the GIL, or when every Python thread is held). What each thread was doing in a stall that the
counts above do not explain -- a call holding the GIL, a lock -- then shows in the log, just
before the late step's line. A diagnostic (one timer reset a step): off unless asked for.

Cheap enough for every step: a tuple stored per phase, one ``getrusage`` and one ``pread`` of
``/proc/stat`` per boundary, a clock read per collection. The first ``FIRST`` late steps are logged, then one in ``EVERY``, so an
overloaded machine does not flood the log.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import resource
import time
from collections import deque

FIRST = 10  # late steps logged one by one
EVERY = 100  # after them, one line in this many
TRAIL = 6  # the thinker's phases before the one it is in, with when each began
STALL_DUMP = "LIVEPLAY_STALL_DUMP"  # "1" in the environment: the stacks of a stalled step (module docstring)
STALL_MARGIN = 0.008  # s past the next boundary before the stacks are written


class StepWatch:
    def __init__(self, stall_dump: bool | None = None):
        self.stall_dump = os.environ.get(STALL_DUMP) == "1" if stall_dump is None else stall_dump
        self.phase: tuple[str, int, float] = ("starting", 0, time.monotonic())
        self.trail: deque[tuple[str, int, float]] = deque(maxlen=TRAIL)  # the phases before it
        self._gc_started = 0.0
        self._gc_running = False
        self._gc_count = 0
        self._gc_longest = 0.0
        try:
            self._stat: int | None = os.open("/proc/stat", os.O_RDONLY)
        except OSError:  # not Linux: no steal figure
            self._stat = None
        self._tick = 1000.0 / os.sysconf("SC_CLK_TCK") if self._stat is not None else 0.0
        self._last = self._usage()
        gc.callbacks.append(self._collected)

    def arm(self, seconds: float) -> None:
        """(The sender, at each boundary, with the player's lock.) With the stall dump on: every
        thread's stack to stderr unless ``arm`` comes again within ``seconds`` + ``STALL_MARGIN``."""
        if self.stall_dump:
            faulthandler.dump_traceback_later(seconds + STALL_MARGIN)

    def pause(self) -> None:
        """No boundary to wait for now (the DAW stopped, the clock lost): no stacks meanwhile."""
        if self.stall_dump:
            faulthandler.cancel_dump_traceback_later()

    def disarm(self) -> None:
        """(With the player's lock.) Off for good: the player is stopping, and faulthandler's one
        timer is the daemon's stop deadline from here on (``live.app``)."""
        if self.stall_dump:
            self.stall_dump = False
            faulthandler.cancel_dump_traceback_later()

    def close(self) -> None:
        if self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)
        if self._stat is not None:
            os.close(self._stat)
            self._stat = None

    def thinking(self, phase: str, step: int) -> None:
        """The thinker enters ``phase`` for ``step``."""
        self.trail.append(self.phase)
        self.phase = (phase, step, time.monotonic())

    def _trail(self) -> tuple[tuple[str, int, float], ...]:
        """(The sender.) A copy of the thinker's trail. The thinker appends to it meanwhile: the
        copy is made in C, but a garbage collection inside it runs ``_collected`` (Python), where
        the thinker can take the GIL and append, and the copy raises; then it is made again."""
        while True:
            try:
                return tuple(self.trail)
            except RuntimeError:  # "deque mutated during iteration"
                continue

    def _collected(self, what: str, info: dict) -> None:
        if what == "start":
            self._gc_started, self._gc_running = time.perf_counter(), True
        else:
            self._gc_running = False
            self._gc_count += 1
            self._gc_longest = max(self._gc_longest, time.perf_counter() - self._gc_started)

    def _steal(self) -> int:
        """Steal time of all CPUs so far, in ticks (0 where the kernel does not count it)."""
        if self._stat is None:
            return 0
        try:
            fields = os.pread(self._stat, 200, 0).split(b"\n", 1)[0].split()
            return int(fields[8]) if len(fields) > 8 else 0  # cpu user nice system idle iowait irq softirq steal
        except (OSError, ValueError):
            return 0

    def _usage(self) -> tuple[int, int, int, int]:
        u = resource.getrusage(resource.RUSAGE_SELF)
        return u.ru_majflt, u.ru_nivcsw, self._steal(), u.ru_minflt

    def boundary(self) -> tuple[int, int, int, float, float, int]:
        """At each boundary (the sender): what happened since the one before -- major faults,
        involuntary switches, collections, the longest collection (s), steal time (ms), minor
        faults -- and start counting again."""
        now = self._usage()
        since = (now[0] - self._last[0], now[1] - self._last[1], self._gc_count, self._gc_longest,
                 (now[2] - self._last[2]) * self._tick, now[3] - self._last[3])
        self._last, self._gc_count, self._gc_longest = now, 0, 0.0
        return since

    def describe(self, step: int, late: int, woke: float | None,
                 since: tuple[int, int, int, float, float, int]) -> str | None:
        """The log line for late step ``step`` (the ``late``-th), or None when it is not one to log."""
        if late > FIRST and late % EVERY:
            return None
        phase, k, entered = self.phase
        faults, switches, collections, longest, stolen, minor = since
        woke_text = f"the sender woke {1000 * woke:.1f} ms after the boundary; " if woke is not None else ""
        gc_text = f"{collections} garbage collection(s), the longest {1000 * longest:.1f} ms" if collections else \
            "no garbage collection"
        if self._gc_running:  # its finalizers run Python code, so other threads can run before it ends
            gc_text += f"; a garbage collection running for {1000 * (time.perf_counter() - self._gc_started):.1f} ms"
        now = time.monotonic()
        at = now - (woke or 0.0)  # the boundary (now, where the timing does not know when it was due)
        trail = ", ".join(f"{p} {s} {1000 * (t - at):+.1f}" for p, s, t in self._trail())
        return (f"step {step} late ({late} so far{'' if late <= FIRST else f', one line in {EVERY} from here'}): "
                f"{woke_text}the thinker had been {phase} step {k} for {1000 * (now - entered):.1f} ms; "
                f"since the step before: {faults} major and {minor} minor page fault(s), {switches} involuntary context "
                f"switch(es), {gc_text}, {stolen:.0f} ms of the CPUs stolen by the host; the thinker's phases "
                f"before, begun at ms from the boundary: {trail}")
