"""Closing an input of ours while MIDI streams into it, on a real JACK server.

libjack stops a closing client's thread with an asynchronous cancel; before inputs.InputCallback a
thread cancelled inside our callback took the GIL's mutex with it and the process hung for good
(without the drain, this test's child hung in two runs of three; without holding python-rtmidi's
callback pair, it crashed at exit). The closing process is a child, so a hang is a failure here,
not a hung pytest.
"""

import subprocess
import sys
import threading
import time

import pytest

from jacktools import connect

pytestmark = pytest.mark.slow

CLOSES = 6
CHILD = """
import sys, time
from liveplay.live.ports import open_port

def busy(event, data):  # a callback that holds the GIL a while, as a loaded daemon's can
    t = time.perf_counter()
    while time.perf_counter() - t < 0.0005:
        pass

for i in range(int(sys.argv[1])):
    port = open_port("jack", "input", None, client=f"closer{i}", port_name="in", on_bytes=busy)
    print(port.name, flush=True)
    sys.stdin.readline()  # the flood is connected
    t = time.perf_counter()
    while time.perf_counter() - t < 0.05:  # this thread holds the GIL most of the time too
        pass
    port.close()
print("closed", flush=True)
"""


def test_an_input_closed_under_a_flood_neither_hangs_nor_crashes(jack_server):
    import rtmidi

    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="flooder")
    out.open_virtual_port("out")
    stop = threading.Event()

    def flood():
        while not stop.is_set():
            out.send_message([0x90, 60, 100])
            out.send_message([0x80, 60, 0])
            time.sleep(0.0002)

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(CLOSES)], env=jack_server.env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timer = threading.Timer(60, child.kill)  # a hung child: killed, and its code says so
    timer.start()
    try:
        for _ in range(CLOSES):
            name = child.stdout.readline().strip()
            if not name:  # it hung (killed by the timer) or crashed before this close
                break
            connect("flooder:out", name)
            child.stdin.write("\n")
            child.stdin.flush()
        last = child.stdout.readline().strip()
        code = child.wait()
    finally:
        timer.cancel()
        stop.set()
        flooder.join()
        if child.poll() is None:
            child.kill()
        out.delete()
    assert (last, code) == ("closed", 0), f"the child hung or crashed (exit {code}): {child.stderr.read()[-2000:]}"
