"""The hostile-input battery: files, bundles and configs that once exploded, each now a clear error
or a skip in bounded time and memory. (The live cases on JACK follow in the second half.)"""

import json
import os
import re
import signal
import shutil
import struct
import subprocess
import sys
import time
import zipfile

import mido
import numpy as np
import pytest

from jacktools import ACT_MARGIN, Daemon, Recorder, connect, onset_times, raw_sender
from liveplay import cli
from liveplay.errors import BundleError, ConfigError, MidiFileError
from liveplay.music.midifile import find_midi_files, read_tokens


# liveplay in a child under a hard memory cap: NumPy and liveplay's modules are imported first,
# then the address space is capped at that much plus argv[1] MB (a regression fails with a
# MemoryError instead of taking the machine), and the child's own peak RSS is printed at exit
CAPPED = """
import atexit, resource, runpy, sys
import numpy, liveplay.cli
status = lambda key: int(open('/proc/self/status').read().split(key + ':')[1].split()[0])
cap = status('VmSize') * 1024 + int(sys.argv.pop(1)) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
atexit.register(lambda: print('VmHWM', status('VmHWM')))
sys.argv[0] = 'liveplay'
runpy.run_module('liveplay', run_name='__main__')
"""
HEADROOM_MB = 1024


def run_cli(*args, timeout=60):
    """liveplay in a capped child process: (exit code, output, its peak RSS in MB, seconds).

    The peak is the child's own VmHWM, printed at its exit (ru_maxrss of a child forked from this
    test process would carry the test process's peak across exec)."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CAPPED, str(HEADROOM_MB), *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, XDG_CONFIG_HOME="/nonexistent"))
    out = done.stdout + done.stderr
    assert "VmHWM" in out, out
    peak_kb = int(out.rsplit("VmHWM", 1)[1].split()[0])
    return done.returncode, out, peak_kb / 1024, time.monotonic() - start


# a child without capabilities: as root too, file permissions are then enforced (CAP_DAC_OVERRIDE
# and CAP_DAC_READ_SEARCH are what let root read a file of mode 000)
UNPRIVILEGED = """
import ctypes, sys
class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Sets(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
if ctypes.CDLL(None, use_errno=True).capset(ctypes.byref(Header(0x20080522, 0)), (Sets * 2)()) != 0:
    sys.exit(3)
import logging
logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
"""


def unprivileged(code: str) -> str:
    """The output of ``code`` run in a child with no capabilities."""
    done = subprocess.run([sys.executable, "-c", UNPRIVILEGED + code], capture_output=True, text=True, timeout=60)
    if done.returncode == 3 and os.geteuid() == 0:
        pytest.skip("running as root and capabilities cannot be dropped here: permissions are not enforced")
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def smf(ticks_per_beat: int, events: bytes) -> bytes:
    """A type-0 standard MIDI file around one track's raw event bytes."""
    track = events + b"\x00\xff\x2f\x00"
    return (b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat) + b"MTrk" + struct.pack(">I", len(track))
            + track)


def one_note(path, ticks_per_beat=480):
    midi = mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat)
    midi.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=80),
                                       mido.Message("note_off", note=60, velocity=0, time=ticks_per_beat)]))
    midi.save(path)
    return path


# -- MIDI files -----------------------------------------------------------------------------------


def test_a_37_byte_file_claiming_268_million_beats_is_refused_small_and_fast(tiny_model, tmp_path):
    bomb = tmp_path / "bomb.mid"
    # note-on, then one delta of 0x0FFFFFFF ticks at 1 tick a beat, then its note-off
    bomb.write_bytes(smf(1, b"\x00\x90\x3c\x40" + b"\xff\xff\xff\x7f\x80\x3c\x40"))
    assert len(bomb.read_bytes()) == 37
    code, out, peak_mb, seconds = run_cli("generate", "--model", str(tiny_model), "--prime", str(bomb),
                                          "--out", str(tmp_path / "x.mid"))
    assert code == 2 and "bomb.mid: longer than 100000 beats" in out, out
    assert "Traceback" not in out
    assert peak_mb < 600 and seconds < 30, (peak_mb, seconds)  # was 13.4 GB and a MemoryError


def test_a_2_kb_file_of_millions_of_steps_is_skipped_with_a_warning(tmp_path, caplog):
    folder = tmp_path / "data"
    folder.mkdir()
    events = b"".join(b"\x00\x90\x3c\x40\x83\xff\x7f\x80\x3c\x40" for _ in range(200))  # 65k beats each
    (folder / "long.mid").write_bytes(smf(1, events))
    mido.MidiFile(type=1).save(folder / "empty.mid")
    one_note(folder / "good.mid")
    from liveplay.music.midifile import load_token_files

    start = time.monotonic()
    loaded = load_token_files([folder], 2, 4)
    assert [p.name for p, _ in loaded] == ["good.mid"] and time.monotonic() - start < 5
    assert "skipping" in caplog.text and "long.mid: longer than 100000 beats" in caplog.text


def test_a_file_of_too_many_grid_steps_is_refused_before_the_grid_is_made(tmp_path):
    # 50 000 beats (under the beat bound): 100 001 steps of eighths pass, 1 200 001 of 24ths do not
    path = tmp_path / "long.mid"
    path.write_bytes(smf(1, b"\x00\x90\x3c\x40\x83\x86\x50\x80\x3c\x40"))  # a delta of 50 000 ticks
    assert len(read_tokens(path, 2, 4)) == 100_000
    start = time.monotonic()
    with pytest.raises(MidiFileError, match=r"long.mid: 50000 beats make 1200001 steps at 24 a beat: liveplay "
                                            r"makes at most 400000 steps of one file"):
        read_tokens(path, 24, 4)
    assert time.monotonic() - start < 1


def test_a_file_over_the_size_bound_is_refused_unread(tmp_path):
    from liveplay.music.midifile import MAX_FILE_BYTES

    path = tmp_path / "huge.mid"
    path.write_bytes(smf(480, b"\x00\x90\x3c\x40" + b"\x00\x3c\x00\x00\x3c\x40" * (MAX_FILE_BYTES // 6)))
    start = time.monotonic()
    with pytest.raises(MidiFileError, match=rf"huge.mid: {path.stat().st_size} bytes: larger than the "
                                            rf"{MAX_FILE_BYTES} liveplay reads"):
        read_tokens(path, 2, 4)
    assert time.monotonic() - start < 1


def test_the_densest_file_under_the_size_bound_is_read_in_bounded_time_and_memory(tiny_model, tmp_path):
    from liveplay.music.midifile import MAX_FILE_BYTES

    dense = tmp_path / "dense.mid"  # note-on, note-off, ... of 3 bytes each: 700 000 messages
    dense.write_bytes(smf(480, b"\x00\x90\x3c\x40" + b"\x00\x3c\x00\x00\x3c\x40" * ((MAX_FILE_BYTES - 30) // 6)))
    assert MAX_FILE_BYTES - 100 < dense.stat().st_size <= MAX_FILE_BYTES
    code, out, peak_mb, seconds = run_cli("generate", "--model", str(tiny_model), "--prime", str(dense),
                                          "--out", str(tmp_path / "x.mid"), "--steps", "8", timeout=120)
    assert code == 0 and "primed with 1 step(s)" in out, out
    assert peak_mb < 500 and seconds < 60, (peak_mb, seconds)  # mido.merge_tracks' copies: 560 MB, 15 s


def test_a_file_with_a_1_mb_sysex_keeps_its_notes(tmp_path):
    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    midi.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=80),
                                       mido.Message("sysex", data=[1] * 1_000_000, time=10),
                                       mido.Message("note_off", note=60, velocity=0, time=470),
                                       mido.Message("note_on", note=64, velocity=80),
                                       mido.Message("note_off", note=64, velocity=0, time=480)]))
    midi.save(tmp_path / "dump.mid")
    assert read_tokens(tmp_path / "dump.mid", 2, 4) == [(60,), "HOLD", (64,), "HOLD"]


def test_not_a_regular_file_is_named_as_such_and_a_fifo_does_not_hang(tiny_model, tmp_path):
    fifo = tmp_path / "prime.mid"
    os.mkfifo(fifo)
    code, out, _, seconds = run_cli("generate", "--model", str(tiny_model), "--prime", str(fifo),
                                    "--out", str(tmp_path / "x.mid"), timeout=30)
    assert code == 2 and "prime.mid: not a regular file" in out and seconds < 30, out
    with pytest.raises(MidiFileError, match="a folder, not a MIDI file"):
        read_tokens(tmp_path, 2, 4)


def test_an_unreadable_file_is_permission_denied_not_corrupt(tiny_model, tmp_path, caplog):
    locked = one_note(tmp_path / "locked.mid")
    locked.chmod(0)
    (tmp_path / "shut").mkdir()
    behind = one_note(tmp_path / "shut" / "behind.mid")
    (tmp_path / "shut").chmod(0)
    out = unprivileged(f"""
from liveplay import cli
from liveplay.music.midifile import read_tokens
from liveplay.errors import MidiFileError
for path in ({str(locked)!r}, {str(behind)!r}):
    try:
        read_tokens(path, 2, 4)
    except MidiFileError as err:
        print(err)
print("exit", cli.main(["generate", "--model", {str(tiny_model)!r}, "--prime", {str(locked)!r},
                        "--out", {str(tmp_path / "x.mid")!r}]))
""")
    assert f"{locked}: permission denied\n" in out, out
    assert f"{behind}: permission denied (a folder on its path cannot be searched)" in out, out
    assert "corrupt" not in out and "exit 2" in out, out


def test_unreadable_folders_and_bad_links_in_a_data_folder_are_named(tmp_path, caplog):
    top = tmp_path / "data"
    (top / "a").mkdir(parents=True)
    (top / "a" / "loop").symlink_to(top)  # data/a/loop -> data
    (top / "b").symlink_to(top / "a")  # a second way into data/a
    one_note(top / "a" / "x.mid")
    (top / "gone").symlink_to(tmp_path / "nowhere")  # a dangling link (to a folder, once)
    (top / "self").symlink_to(top / "self")  # a link to itself
    (top / "gone.mid").symlink_to(tmp_path / "nowhere.mid")
    found = find_midi_files([top])
    assert sorted(f.name for f in found) == ["gone.mid", "x.mid"]
    assert f"skipping folder {top / 'a' / 'loop'}: a symbolic link loop" in caplog.text
    assert f"skipping folder {top / 'b'}: a second link to a folder already read" in caplog.text
    assert f"skipping {top / 'gone'}: a broken symbolic link or a link loop" in caplog.text
    assert f"skipping {top / 'self'}: a broken symbolic link or a link loop" in caplog.text
    with pytest.raises(MidiFileError, match=r"gone.mid: a broken symbolic link \(to .*nowhere.mid\)"):
        read_tokens(top / "gone.mid", 2, 4)
    (top / "locked").mkdir()
    one_note(top / "locked" / "y.mid")
    (top / "locked").chmod(0)
    out = unprivileged(f"""
from liveplay.music.midifile import find_midi_files
print(sorted(f.name for f in find_midi_files([{str(top)!r}])))
""")
    assert f"skipping folder {top / 'locked'}: Permission denied" in out, out
    assert "['gone.mid', 'x.mid']" in out, out


# -- bundles ------------------------------------------------------------------------------------------


@pytest.fixture
def bundle(tiny_model, tmp_path):
    dest = tmp_path / "bundle"
    shutil.copytree(tiny_model, dest)
    return dest


def edit(path, section, key, value):
    data = json.loads(path.read_text())
    (data[section] if section else data)[key] = value
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("section,key,value,says", [
    ("grid", "steps_per_beat", 0, "grid.steps_per_beat: must be one of"),
    ("grid", "context_length", 0, "grid.context_length: must be between 2 and 4096 (got 0)"),
    ("grid", "context_length", -5, "grid.context_length: must be between"),
    ("grid", "context_length", 10**9, "grid.context_length: must be between"),
    ("grid", "max_notes", "4", "grid.max_notes: must be a whole number (got '4')"),
    ("architecture", "vocab_size", "514", "architecture.vocab_size: must be a whole number (got '514')"),
    ("architecture", "hidden", 10**6, "architecture.hidden: must be between 1 and 4096"),
    ("architecture", "layers", True, "architecture.layers: must be a whole number (got True)"),
])
def test_every_manifest_value_is_checked_and_exits_2_naming_file_and_key(bundle, tmp_path, caplog, section, key,
                                                                          value, says):
    edit(bundle / "manifest.json", section, key, value)
    with pytest.raises(BundleError, match="manifest.json: " + says.replace("(", r"\(").replace(")", r"\)")):
        from liveplay.model.bundle import load_bundle
        load_bundle(bundle)
    assert cli.main(["generate", "--model", str(bundle), "--out", str(tmp_path / "x.mid")]) == 2
    assert "manifest.json" in caplog.text and f"{section}.{key}" in caplog.text


@pytest.mark.parametrize("key,value,says", [
    ("max_notes", "4", "max_notes must be a whole number"),
    ("chords", [[60, 62, 64, 65, 67, 69, 71]], r"chords\[0\] \[60, 62, 64, 65, 67, 69, 71\] has more than max_notes"),
    ("chords", [[60], [True, 64]], r"chords\[1\] \[True, 64\] is not a list of MIDI pitches"),
    ("chords", [[200]], "is not a list of MIDI pitches"),
    ("chords", [[60], [64], [60]], r"chords\[2\] \[60\] repeats chords\[0\]"),
    ("chords", [list(range(128)) * 8000], r"chords\[0\] \[0, 1, 2, .* has more than max_notes"),  # 3 MB, quoted short
])
def test_every_vocabulary_value_is_checked(bundle, tmp_path, caplog, key, value, says):
    from liveplay.model.bundle import load_bundle

    edit(bundle / "vocab.json", None, key, value)
    with pytest.raises(BundleError, match="vocab.json: .*" + says) as err:
        load_bundle(bundle)
    assert len(str(err.value)) < 300
    assert cli.main(["generate", "--model", str(bundle), "--out", str(tmp_path / "x.mid")]) == 2
    assert "vocab.json" in caplog.text and key in caplog.text


def test_an_npz_declaring_a_huge_array_is_refused_from_its_header(tiny_model, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_model, copy)
    arrays = dict(np.load(copy / "weights.npz"))
    header = {"descr": "<f4", "fortran_order": False, "shape": (200_000, 20_000)}
    with zipfile.ZipFile(copy / "weights.npz", "w") as zf:
        for name, a in arrays.items():
            with zf.open(f"{name}.npy", "w") as f:
                if name == "embedding":  # 19 MB of data behind a header that claims 16 GB
                    np.lib.format.write_array_header_1_0(f, header)
                    f.write(b"\0" * 19_000_000)
                else:
                    np.lib.format.write_array(f, a)
    code, out, peak_mb, seconds = run_cli("generate", "--model", str(copy), "--out", str(tmp_path / "x.mid"))
    assert code == 2 and "weights.npz: array 'embedding' has shape (200000, 20000)" in out, out
    assert peak_mb < 600 and seconds < 30, (peak_mb, seconds)


def test_an_npz_member_shorter_than_its_header_says_is_refused_before_reading(bundle):
    arrays = dict(np.load(bundle / "weights.npz"))
    with zipfile.ZipFile(bundle / "weights.npz", "w") as zf:
        for name, a in arrays.items():
            with zf.open(f"{name}.npy", "w") as f:
                if name == "dense.kernel":  # the right header, half of the data
                    np.lib.format.write_array_header_1_0(f, np.lib.format.header_data_from_array_1_0(a))
                    f.write(a[: len(a) // 2].tobytes())
                else:
                    np.lib.format.write_array(f, a)
    from liveplay.model.bundle import load_bundle

    with pytest.raises(BundleError, match=r"weights.npz: array 'dense.kernel' of shape \(48, \d+\) needs \d+ "
                                          r"bytes of data, its member holds \d+"):
        load_bundle(bundle)


# -- config files -------------------------------------------------------------------------------------


def refused(path, caplog):
    """load_settings(path)'s ConfigError text and seconds, after checking that the CLI exits 2 on the
    same file, naming it."""
    from liveplay.config import load_settings

    caplog.clear()
    assert cli.main(["generate", "--config", str(path), "--out", os.devnull]) == 2
    assert str(path) in caplog.text and "Traceback" not in caplog.text
    start = time.monotonic()
    try:
        load_settings(path)
    except ConfigError as err:
        return str(err), time.monotonic() - start
    raise AssertionError("no ConfigError")


def lol_bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{'abcdefghi'[i]}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name,content,says", [
    ("undecodable", b"live:\n  mode: \xff\xfe solo\n", "not UTF-8 text (byte 0xff at offset 14)"),
    ("alias bomb", lol_bomb().encode(), "more than 32 aliases (line 5)"),  # 9^9 'lol's in 342 bytes
    ("deep", b"live:\n  mode: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
     "nested more than 20 levels deep (line 2, column 27)"),  # was a RecursionError traceback
    ("long number", b"live:\n  velocity: " + b"9" * 5000 + b"\n",
     "a number of 5000 digits (line 2): settings have at most 100"),  # was a ValueError traceback
    ("no such date", b"live:\n  mode: 2001-02-30\n", "not valid YAML: day is out of range for month"),
    ("twice", b"live:\n  mode: solo\n  tempo_bpm: 90\n  mode: respond\n", "'mode': given twice (lines 2 and 4)"),
    ("top level", b"- live\n- grid\n", "the top level must be a mapping of sections"),
])
def test_hostile_settings_bytes_are_one_clear_error_at_once(tmp_path, caplog, name, content, says):
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    text, seconds = refused(path, caplog)
    assert str(path) in text and says in text and seconds < 5, text


def test_a_fifo_given_as_settings_does_not_hang(tmp_path, caplog):
    fifo = tmp_path / "settings.yaml"
    os.mkfifo(fifo)
    text, _ = refused(fifo, caplog)
    assert "not a regular file" in text


def test_huge_values_are_quoted_short_and_huge_files_refused(tmp_path, caplog):
    path = tmp_path / "big.yaml"
    path.write_text("live:\n  mode: " + "x" * 100_000 + "\n")
    text, _ = refused(path, caplog)
    assert "live.mode: must be one of" in text and "(got 'xxxxx" in text and len(text) < 600, text[:800]
    path.write_text("train:\n  transpose: ['" + "x" * 100_000 + "']\n")  # one item of a list
    text, _ = refused(path, caplog)
    assert "train.transpose: every item must be a whole number (got 'xxxxx" in text and len(text) < 600, text[:800]
    # 30 aliases of a list of 50 000 numbers: 1.5 million items for whoever walks it whole
    path.write_text("numbers: &n [" + ",".join(["0"] * 50_000) + "]\ntrain:\n  transpose: [" + ",".join(["*n"] * 30)
                    + "]\n")
    text, seconds = refused(path, caplog)
    assert "train.transpose: every item must be a whole number (got [0, 0, 0" in text, text[:800]
    assert len(text) < 600 and seconds < 10, (len(text), seconds)  # reading 100 kB of YAML is ~1 s of it
    path.write_text("live:\n  mode: " + "x" * 20_000_000 + "\n")  # 20 MB: refused unread
    text, seconds = refused(path, caplog)
    assert "20000015 bytes: a settings file is a few kB (at most 131072)" in text and len(text) < 300 and seconds < 2


def test_many_unknown_keys_are_summed_up_in_bounded_time(tmp_path, caplog):
    path = tmp_path / "keys.yaml"
    path.write_text("".join(f"k{i}: 1\n" for i in range(12_000)))  # 200 000 are over the size bound
    text, seconds = refused(path, caplog)
    assert "more unknown keys, not listed" in text and text.count("unknown key") <= 51 and seconds < 5


def test_learn_refuses_to_edit_a_hostile_settings_file_and_leaves_it_as_it_was(tmp_path):
    from liveplay.userconfig import set_keys

    for name, content, says in [("undecodable", b"controls: {mode: \xff}\n", "not UTF-8 text"),
                                ("bomb", (lol_bomb() + "controls: {mode: 3}\n").encode(), "more than 32 aliases")]:
        path = tmp_path / f"{name}.yaml"
        path.write_bytes(content)
        with pytest.raises(ConfigError, match=says):
            set_keys(path, "controls", {"mode": 20})
        assert path.read_bytes() == content


# -- live input on a real JACK server ------------------------------------------------------------------
# a stray sysex start, a killed liveplay, a connection pulled while notes sound, what our ports are
# called, a loop through JACK


def args(config, model, *extra):
    return ["--config", str(config), "--model", str(model), "--seed", "1", *extra]


def wait_sounding(rec: Recorder, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not rec.sounding() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.sounding(), "nothing sounded"


@pytest.mark.slow
def test_a_stray_sysex_start_blocks_nothing(jack_server, tiny_config, tiny_model, tmp_path):
    """F0 7D 01 with no F7 (a flaky controller, a cut cable): the panic and mute CCs that follow
    still act within one step, and SIGUSR1 counts what was repaired."""
    d = Daemon(jack_server, args(tiny_config, tiny_model, "--mode", "solo", "--tempo", "150"), tmp_path / "d.log")
    step = 60 / 150 / 2
    rec = Recorder(d.out_port)
    out = raw_sender(d.in_port)
    code = None
    try:
        wait_sounding(rec)
        out.send_message([0xF0, 0x7D, 0x01])  # a sysex that never ends
        time.sleep(0.05)
        sent = time.monotonic()
        out.send_message([0xB0, 23, 127])  # panic
        time.sleep(step * 1.5)
        panic = [e for e in rec.snapshot() if e.time > sent and e.message.type == "control_change"
                 and e.message.control == 123]
        assert panic and panic[0].time - sent <= step + ACT_MARGIN, (panic, d.log())
        muted = time.monotonic()
        out.send_message([0xF0, 0x01, 0x02, 0x03])  # another one, then mute
        out.send_message([0xB0, 24, 127])
        time.sleep(step * 4)
        d.send_signal(signal.SIGUSR1)
        d.wait_for_log("state:", timeout=5)
        code = d.stop()
    finally:
        d.stop()
        out.close_port()
        del out
        rec.close()
    log = d.log()
    assert code == 0, log
    assert "muted (CC 24 = 127)" in log, log
    assert not [e for e in rec.note_ons() if e.time > muted + step + ACT_MARGIN], "a note after mute"
    repaired = int(re.search(r"repaired input (\d+)", log).group(1))
    lost = int(re.search(r"lost input (\d+)", log).group(1))
    assert repaired >= 2 and lost >= 2, log


@pytest.mark.slow
def test_a_killed_liveplay_leaves_nothing_sounding_after_a_restart(jack_server, tiny_config, tiny_model, tmp_path):
    """SIGKILL while notes sound (the watchdog's abort, TimeoutStopSec): the next liveplay sends
    all-sound-off and all-notes-off on its channel before its first note."""
    synth = Recorder(None, name="synth")
    first = second = None
    try:
        first = Daemon(jack_server, args(tiny_config, tiny_model, "--mode", "solo", "--out", "synth:in"),
                       tmp_path / "first.log", virtual_ports=False)
        wait_sounding(synth)
        first.stop(signal.SIGKILL)
        killed = time.monotonic()
        time.sleep(0.5)
        assert synth.sounding(), "the killed instance's notes should still ring here"
        second = Daemon(jack_server, args(tiny_config, tiny_model, "--mode", "solo", "--out", "synth:in"),
                        tmp_path / "second.log", virtual_ports=False)
        time.sleep(2.0)
        code = second.stop()
        time.sleep(0.3)
    finally:
        for d in (first, second):
            if d is not None:
                d.stop()
        synth.close()
    assert code == 0, second.log()
    after = [e for e in synth.snapshot() if e.time > killed]
    first_note = next(i for i, e in enumerate(after) if e.message.type == "note_on" and e.message.velocity)
    cleared = [e.message.control for e in after[:first_note] if e.message.type == "control_change"]
    assert 120 in cleared and 123 in cleared, after[: first_note + 1]
    assert synth.sounding(at=after[first_note].time - 1e-6) == set()
    assert synth.sounding() == set()


@pytest.mark.slow
def test_a_removed_connection_is_noticed_once_and_nothing_hangs_when_it_is_back(jack_server, tiny_config,
                                                                                tiny_model, tmp_path):
    synth = Recorder(None, name="synth")
    d = None
    try:
        d = Daemon(jack_server, args(tiny_config, tiny_model, "--mode", "solo", "--out", "synth:in"),
                   tmp_path / "d.log", virtual_ports=False)
        wait_sounding(synth)
        subprocess.run(["jack_disconnect", "liveplay:liveplay out", "synth:in"], check=True)
        pulled = time.monotonic()
        d.wait_for_log("the connection to 'synth:in' was removed", timeout=3)
        assert time.monotonic() - pulled <= 1.5
        assert synth.sounding(), "the synth should still hold the notes it got before the cable was pulled"
        time.sleep(1.5)
        connect("liveplay:liveplay out", "synth:in")
        back = time.monotonic()
        d.wait_for_log("output: connected to 'synth:in' again", timeout=3)
        time.sleep(1.5)
        code = d.stop()
        time.sleep(0.3)
    finally:
        if d is not None:
            d.stop()
        synth.close()
    log = d.log()
    assert code == 0, log
    assert log.count("was removed") == 1, log
    cleared = [e for e in synth.snapshot() if e.time > back and e.message.type == "control_change"
               and e.message.control in (120, 123)]
    assert {e.message.control for e in cleared} == {120, 123}, log
    assert cleared[0].time - back <= 1.0  # within a port check of the cable coming back
    assert synth.sounding(at=cleared[-1].time) == set()  # the notes held since the pull are gone
    assert synth.sounding() == set()


@pytest.mark.slow
def test_a_named_output_carries_liveplays_name_and_the_hint_names_only_what_is_missing(
        jack_server, tiny_config, tiny_model, tmp_path):
    synth = Recorder(None, name="synth")
    d = Daemon(jack_server, args(tiny_config, tiny_model, "--mode", "solo", "--out", "synth:in"),
               tmp_path / "d.log", virtual_ports=False)
    try:
        time.sleep(0.5)
        listing = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True).stdout
    finally:
        code = d.stop()
        synth.close()
    log = d.log()
    assert code == 0, log
    assert "RtMidi" not in listing, listing
    assert re.search(r"^liveplay:liveplay out\n   synth:in$", listing, re.M), listing
    hint = next(line for line in log.splitlines() if "jack_connect" in line or "playing to" in line)
    assert "playing to 'synth:in'" in hint and "connect a synth" not in hint, hint
    assert "connect a keyboard: jack_connect '<keyboard port>' 'liveplay" in hint, hint
    assert len(onset_times(synth.note_ons())) >= 1


@pytest.mark.slow
def test_a_loop_through_jack_is_recognised_and_liveplay_does_not_answer_itself(jack_server, tiny_config,
                                                                               tiny_model, tmp_path):
    """Our output wired back to our input (a DAW monitoring liveplay's track): respond mode must
    not take its own answer for the musician playing again, or it would cut every answer after
    one chord."""
    config = tmp_path / "respond.yaml"
    config.write_text(tiny_config.read_text() + "live:\n  silence_steps: 4\n  max_response_steps: 64\n")
    d = Daemon(jack_server, args(config, tiny_model, "--mode", "respond", "--tempo", "150"), tmp_path / "d.log")
    rec = Recorder(d.out_port)
    try:
        connect(d.out_port, d.in_port)  # the loop
        d.wait_for_log("our own notes come back on the input", timeout=20)
        detected = time.monotonic()
        time.sleep(4.0)
        code = d.stop()
    finally:
        d.stop()
        rec.close()
    assert code == 0, d.log()
    # 20 steps after detection: one answer running on (the tiny model's pattern has 5 onsets in 8
    # steps), not an answer cut after each chord and resumed 4 silent steps later (4 onsets)
    assert len(onset_times(rec.note_ons(after=detected))) >= 8, d.log()
