"""No MIDI system: `liveplay ports` says so in one line of its own, with none of libjack's noise."""

import os
import subprocess
import sys


def test_ports_without_a_jack_server_prints_only_liveplays_message():
    env = dict(os.environ, JACK_DEFAULT_SERVER="liveplay-test-no-such-server", XDG_CONFIG_HOME="/nonexistent")
    for extra in ([], ["--api", "jack"]):
        done = subprocess.run([sys.executable, "-m", "liveplay", "ports", *extra], capture_output=True, text=True,
                              env=env, timeout=60)
        out = done.stdout + done.stderr
        assert done.returncode == 2, out
        assert "Cannot connect to server" not in out and "JackShm" not in out and "jack server is not" not in out, out
        assert len(out.strip().splitlines()) == 1 and "JACK server" in out, out
