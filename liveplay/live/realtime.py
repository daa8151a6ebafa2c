"""Real-time scheduling for the two step threads, where the system grants it.

The sender and the thinker sleep most of the time and must run the moment their time comes:
the sender at each boundary, the thinker ``lookahead`` before it. Under normal scheduling
another busy process (a DAW's GUI, a synth, a recorder, a compiler) can hold both cores when
they wake: on a shared two-core machine one step in ten thousand came late that way
(models/duet/README.md). As JACK runs its own process threads, each of them asks for
``SCHED_FIFO`` at ``live.realtime_priority`` (the sender) and one below it (the thinker, so the
sender wins when both want a core), below JACK's own threads (JACK's default is 10 or more), so
the audio server is never held up by liveplay.

Linux grants it to root, to a process with CAP_SYS_NICE, or where the user's real-time priority
limit (``ulimit -r``; the ``audio`` group's limits on most audio set-ups) is at least the
priority. Refused, the thread plays on under normal scheduling and the daemon says why, once.
The kernel keeps 5 % of each second for other work (``sched_rt_runtime_us``), so even a
runaway step thread could not lock the machine.
"""

from __future__ import annotations

import os
import resource


def request(priority: int) -> str | None:
    """Put the calling thread under ``SCHED_FIFO`` at ``priority``: None when granted, else why not."""
    if priority <= 0:
        return "off (live.realtime_priority is 0)"
    if not hasattr(os, "sched_setscheduler"):
        return "not on this system"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0: this thread (Linux)
    except PermissionError:
        limit = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
        return (f"not permitted (real-time priority limit {limit}, asked for {priority}: a member of the "
                f"audio group, or `ulimit -r {priority}`, gets it)")
    except OSError as err:
        return f"refused: {err}"
    return None
