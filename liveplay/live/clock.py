"""The internal tempo clock: an absolute monotonic schedule of step boundaries.

Step k is due at ``anchor_time + (k - anchor_step) * step_seconds``: never
"sleep one step" in a loop, so nothing drifts. A tempo change re-anchors at a
step boundary, so the boundary before it and the one after it stay where the old
and the new tempo put them -- no jump, no glitch.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class StepClock:
    tempo_bpm: float
    steps_per_beat: int
    anchor_time: float  # time.monotonic() of anchor_step
    anchor_step: int = 0

    @property
    def step_seconds(self) -> float:
        return 60.0 / (self.tempo_bpm * self.steps_per_beat)

    def boundary(self, step: int) -> float:
        """When step ``step`` is due (monotonic seconds)."""
        return self.anchor_time + (step - self.anchor_step) * self.step_seconds

    def step_at(self, t: float) -> int:
        """The last step due at or before ``t``."""
        return self.anchor_step + int((t - self.anchor_time) // self.step_seconds)

    def set_tempo(self, tempo_bpm: float, from_step: int) -> None:
        """New tempo from boundary ``from_step`` on (that boundary keeps its time)."""
        self.anchor_time = self.boundary(from_step)
        self.anchor_step = from_step
        self.tempo_bpm = float(tempo_bpm)


def wait_until(deadline: float, stop: threading.Event, fine: float = 0.002) -> bool:
    """Sleep until ``deadline`` (monotonic); False at once when ``stop`` is set.

    The stop event is waited on until ``fine`` seconds are left; the rest is one
    ``time.sleep`` (clock_nanosleep), which lands within tens of microseconds.
    """
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return not stop.is_set()
        if left > fine:
            if stop.wait(left - fine):
                return False
        else:
            time.sleep(left)
