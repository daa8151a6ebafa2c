"""`liveplay learn`: the next CC on a real JACK port is saved in the user's file, comments kept."""

import subprocess
import sys
import time

import mido
import pytest

from jacktools import open_player, wait_for_port
from liveplay.config import load_settings
from liveplay.userconfig import set_keys

USER_FILE = """\
# my liveplay settings
live:
  mode: solo               # I play along

controls:
  temperature: 20          # the big knob
  mode: 21
# end of controls
log_level: info
"""


def test_set_keys_keeps_comments_and_layout(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(USER_FILE)
    set_keys(path, "controls", {"temperature": 74, "mode": None, "mute": 3})
    text = path.read_text()
    assert "  temperature: 74          # the big knob\n" in text
    assert "  mode: null\n  mute: 3\n# end of controls\n" in text
    assert text.startswith("# my liveplay settings\nlive:\n  mode: solo               # I play along\n")
    s = load_settings(path)
    assert (s.controls.temperature, s.controls.mode, s.controls.mute) == (74, None, 3)


def test_set_keys_adds_a_missing_section_and_refuses_a_bad_value(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("live:\n  mode: solo\n")
    set_keys(path, "controls", {"panic": 9})
    assert load_settings(path).controls.panic == 9
    before = path.read_text()
    with pytest.raises(Exception, match="controls.panic"):
        set_keys(path, "controls", {"panic": 300})
    assert path.read_text() == before  # nothing lost
    with pytest.raises(Exception, match="already controls.panic"):
        set_keys(path, "controls", {"mute": 9})


@pytest.mark.slow
def test_learn_saves_the_next_cc(jack_server, tmp_path):
    path = tmp_path / "user.yaml"
    path.write_text(USER_FILE)
    proc = subprocess.Popen([sys.executable, "-m", "liveplay", "learn", "reset-context", "--config", str(path),
                             "--api", "jack", "--timeout", "60"], env=jack_server.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        port = open_player(wait_for_port("output", "liveplay-learn"), name="knobs")
        time.sleep(0.3)
        port.send(mido.Message("note_on", note=60, velocity=10))  # not a control: ignored
        port.send(mido.Message("control_change", channel=2, control=21, value=64))
        out, _ = proc.communicate(timeout=30)
        port.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "CC 21 (channel 3) -> reset-context" in out and "was mode" in out
    s = load_settings(path)
    assert (s.controls.reset_context, s.controls.mode, s.controls.temperature) == (21, None, 20)
    assert "# the big knob" in path.read_text()


@pytest.mark.slow
def test_learn_gives_up_after_its_timeout_and_changes_nothing(jack_server, tmp_path):
    path = tmp_path / "user.yaml"
    path.write_text(USER_FILE)
    done = subprocess.run([sys.executable, "-m", "liveplay", "learn", "mute", "--config", str(path), "--api", "jack",
                           "--timeout", "1"], env=jack_server.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "nothing was changed" in done.stderr
    assert path.read_text() == USER_FILE
