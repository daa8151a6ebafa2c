"""LIVEPLAY_STALL_DUMP=1: a step held up with the GIL taken writes every thread's stack to stderr.

The stall is real: the engine's push runs a regular expression that backtracks for a quarter of
a second or more -- the ``re`` engine keeps the GIL all that time, so the sender cannot wake for
its boundary (no Python thread can run: only faulthandler's C timer). A player runs in a child
process with the variable set, as the daemon would.
"""

import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import re, sys, time
    import numpy as np
    from liveplay.config import load_settings
    from liveplay.live.inputs import InputQueue
    from liveplay.live.performance import Performance
    from liveplay.live.player import Player
    from liveplay.live.timing import InternalTiming
    from liveplay.live.writer import NoteWriter
    from liveplay.music.context import Context
    from liveplay.music.sampler import Sampler
    from liveplay.music.tokens import Vocabulary

    def backtrack(n):
        return re.match(r"(a+)+$", "a" * n + "b")

    n = 16
    while True:  # long enough to hold the GIL past a boundary on this machine
        t = time.perf_counter()
        backtrack(n)
        if time.perf_counter() - t > 0.25:
            break
        n += 1

    class HoldingEngine:
        name, context_length, vocab_size = "holding", 16, 6
        pushes = 0
        def reset(self, tokens=()):
            pass
        def push(self, token):
            self.pushes += 1
            if self.pushes == int(sys.argv[1]):
                backtrack(n)  # the GIL, held
        def distribution(self):
            return np.full(self.vocab_size, 1 / self.vocab_size)

    settings = load_settings().override({"live.mode": "solo", "live.tempo_bpm": 300.0})  # 50 ms steps
    live = settings.live
    vocab = Vocabulary([(60,), (62,), (64,), (65,)], 4)
    performance = Performance(vocab, Context(HoldingEngine()), Sampler(settings.sampler, seed=0), live,
                              settings.controls, 4)
    writer = NoteWriter(lambda m: None, live.output_channel - 1, live.pitch_low, live.pitch_high)
    player = Player(performance, InternalTiming(live.tempo_bpm, 4), writer, InputQueue(), live, status=False)
    player.start(time.monotonic() + 0.05)
    time.sleep(1.5)
    player.stop()
    time.sleep(0.3)  # a timer left set at the stop would fire here
    print("late", player.late)
""")


def run(stall_at: int, dump: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, LIVEPLAY_STALL_DUMP=dump)
    return subprocess.run([sys.executable, "-c", CHILD, str(stall_at)], env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_stall_holding_the_gil_writes_every_threads_stack_once():
    r = run(6, "1")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("Timeout (") == 1, r.stderr  # one stall, one dump; none after the stop
    dump = r.stderr
    assert "in backtrack" in dump and "in push" in dump  # the thread holding the GIL, and where
    assert "in _sender" in dump  # the sender, held: waiting for the GIL to play its boundary
    assert int(r.stdout.split("late ")[1]) >= 1


def test_no_stall_no_stacks_and_off_unless_asked():
    quiet = run(10_000, "1")  # the engine never holds the GIL long
    # a stall of the shared machine itself (over 8 ms) may write one; a timer firing unasked would
    # write one every step, 30 here
    assert quiet.returncode == 0 and quiet.stderr.count("Timeout (") <= 1, quiet.stderr
    off = run(6, "0")  # the same stall, the dump not asked for
    assert off.returncode == 0 and "Timeout (" not in off.stderr, off.stderr
