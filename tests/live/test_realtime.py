"""The step threads run under real-time scheduling where the system grants it, and play on where not."""

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from liveplay.config import load_settings
from liveplay.live import realtime
from liveplay.live.inputs import InputQueue
from liveplay.live.performance import Performance
from liveplay.live.player import Player
from liveplay.live.timing import InternalTiming
from liveplay.live.writer import NoteWriter
from liveplay.music.context import Context
from liveplay.music.sampler import Sampler
from liveplay.music.tokens import Vocabulary

ROOT = Path(__file__).resolve().parents[2]


class UniformEngine:
    name = "uniform"
    context_length = 16
    vocab_size = 6

    def reset(self, tokens=()):
        pass

    def push(self, token):
        pass

    def distribution(self):
        return np.full(self.vocab_size, 1 / self.vocab_size)


def granted_here() -> bool:
    """Whether this process may put a thread under SCHED_FIFO (tried in a throwaway thread)."""
    result = []
    t = threading.Thread(target=lambda: result.append(realtime.request(1)))
    t.start()
    t.join()
    return result == [None]


def policy(tid: int) -> tuple[int, int]:
    return os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority


def test_the_sender_and_thinker_run_under_sched_fifo_the_sender_above(caplog):
    if not granted_here():
        pytest.skip("no real-time scheduling permitted here (no CAP_SYS_NICE, real-time priority limit 0)")
    settings = load_settings().override({"live.mode": "solo", "live.tempo_bpm": 300.0,
                                         "live.realtime_priority": 7})
    live, sent = settings.live, []
    performance = Performance(Vocabulary([(60,), (62,), (64,), (65,)], 4), Context(UniformEngine()),
                              Sampler(settings.sampler, seed=0), live, settings.controls, 4)
    writer = NoteWriter(sent.append, live.output_channel - 1, live.pitch_low, live.pitch_high)
    player = Player(performance, InternalTiming(live.tempo_bpm, 4), writer, InputQueue(), live, status=False)
    with caplog.at_level(logging.INFO, logger="liveplay.live.player"):
        player.start(time.monotonic() + 0.05)
        time.sleep(0.5)
        seen = {t.name: policy(t.native_id) for t in player.threads}
        player.stop()
    assert seen == {"sender": (os.SCHED_FIFO, 7), "thinker": (os.SCHED_FIFO, 6)}
    assert policy(threading.get_native_id())[0] == os.SCHED_OTHER  # only the step threads
    assert "sender thread: real-time scheduling (SCHED_FIFO 7)" in caplog.text
    assert player.step >= 0.5 * 0.45 / (60 / 300 / 4) and sum(m.type == "note_on" for m in sent)


CHILD = """
import os, resource, threading
resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
from liveplay.live import realtime
out = []
t = threading.Thread(target=lambda: out.append((realtime.request(5), os.sched_getscheduler(0))))
t.start(); t.join()
print(out[0][0]); print(out[0][1] == os.SCHED_OTHER)
"""


def test_refused_it_says_why_and_the_thread_keeps_normal_scheduling():
    """A process without the right (real-time limit 0; root without CAP_SYS_NICE) is told why."""
    command = [sys.executable, "-c", CHILD]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and no setpriv to drop CAP_SYS_NICE")
        command = ["setpriv", "--bounding-set", "-sys_nice", "--inh-caps", "-sys_nice", *command]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    why, normal = out.stdout.strip().splitlines()
    assert why.startswith("not permitted (real-time priority limit 0, asked for 5") and "audio group" in why
    assert normal == "True"


def test_priority_0_leaves_scheduling_alone():
    result = []
    t = threading.Thread(target=lambda: result.append((realtime.request(0), os.sched_getscheduler(0))))
    t.start()
    t.join()
    assert result == [("off (live.realtime_priority is 0)", os.SCHED_OTHER)]
