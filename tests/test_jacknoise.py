"""live.jacknoise: libjack's C-level messages go to liveplay's debug log, not to the terminal.

Real libjack (both copies: the system's, through jackgraph, and python-rtmidi's own) asked for a
client on a server name that has no server, in a child process so that stderr is libjack's own.
No JACK server is started. (With the live tests once tests/live takes it.)
"""

import os
import re
import subprocess
import sys
import uuid

import pytest

SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s: %(message)s")
if sys.argv[1] == "quiet":
    from liveplay.live.jacknoise import quiet_libjack
    print("copies quieted:", quiet_libjack())
import mido
from liveplay.live.jackgraph import JackGraph
assert JackGraph.open() is None
try:
    mido.Backend("mido.backends.rtmidi/UNIX_JACK").get_output_names()
except Exception as err:
    print("rtmidi:", err)
"""
LIBJACK_SAYS = ("Cannot connect to server socket", "jack server is not running")


def child(mode: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, JACK_DEFAULT_SERVER=f"liveplay-none-{uuid.uuid4().hex[:8]}", JACK_NO_START_SERVER="1")
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def loud():
    done = child("loud")
    if not any(s in done.stderr for s in LIBJACK_SAYS):
        pytest.fail(f"libjack said nothing without a server (is libjack installed? Debian jackd2): {done.stderr!r}")
    return done


def test_libjack_writes_to_stderr_unless_quieted(loud):
    assert all(s in loud.stderr for s in LIBJACK_SAYS), loud.stderr


def test_quieted_libjack_writes_only_to_the_debug_log(loud):
    done = child("quiet")
    assert done.returncode == 0, done.stderr
    assert re.search(r"copies quieted: [12]\n", done.stdout), done.stdout  # the system's; python-rtmidi's own
    for said in LIBJACK_SAYS:
        assert said not in done.stderr, done.stderr
        assert f"liveplay.live.jacknoise: libjack error: {said}" in done.stdout, done.stdout
    assert "rtmidi: MidiInJack::initialize: JACK server not running?" in done.stdout
