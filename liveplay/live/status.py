"""What the player shows: one live status line on a terminal, a plain log line per bar under
systemd or a pipe, and the state line SIGUSR1 logs."""

from __future__ import annotations

import logging
import sys

from liveplay.live.inputs import InputQueue
from liveplay.live.performance import Performance
from liveplay.live.timing import Timing
from liveplay.live.writer import NoteWriter
from liveplay.music.tokens import RawToken, describe

log = logging.getLogger(__name__)


class StatusLine:
    def __init__(self, performance: Performance, timing: Timing, writer: NoteWriter, inputs: InputQueue,
                 tty: bool | None = None):
        self.performance, self.timing, self.writer, self.inputs = performance, timing, writer, inputs
        self.tty = sys.stderr.isatty() if tty is None else tty

    def describe(self, step: int, late: int) -> str:
        p = self.performance
        try:
            tail = " ".join(describe(p.vocab.decode_token(t)) for t in p.context.tail(16))
        except RuntimeError:  # the thinker pushed meanwhile
            tail = "(changing)"
        clock = self.timing.describe()
        return (f"step {step}, tempo {self.timing.tempo_bpm():.1f} BPM, mode {p.mode}, temperature "
                f"{p.temperature:.2f}, late steps {late}, {self.inputs.describe()}, "
                f"context tail: {tail}" + (f"; {clock}" if clock else ""))

    def show(self, k: int, current: RawToken, late: int) -> None:
        p = self.performance
        position = self.timing.song_step(k)  # the DAW's song position when following its clock
        line = (f"{self.timing.tempo_bpm():6.1f} BPM  {p.mode:9} T {p.temperature:4.2f}  "
                f"{describe(current) if self.writer.sounding else '-':24} late {late}"
                f"{'  muted' if p.muted else ''}")
        if self.tty:
            sys.stderr.write(f"\rstep {position:6d}  {line}")
            sys.stderr.flush()
        elif position % (4 * self.timing.steps_per_beat) == 0:
            log.info("bar %d: %s", position // (4 * self.timing.steps_per_beat) + 1, line.strip())

    def end(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
