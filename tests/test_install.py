"""The base install is the runtime: a fresh venv with `pip install .` plays, generates and renders
without TensorFlow, and a command that needs an extra says which one."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def index_reachable(scratch: Path) -> bool:
    """Whether pip reaches the package index now (one small download, a few seconds at most)."""
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q",
                               "--timeout", "5", "--retries", "0", "-d", str(scratch), "six"],
                              capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def source_copy(dest: Path) -> Path:
    """What the package is built from, copied: pip builds in its source folder, and the working tree is shared."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "liveplay", dest / "liveplay", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory):
    if not index_reachable(tmp_path_factory.mktemp("probe")):
        pytest.skip("no access to the package index (pip download six failed): cannot build a fresh venv")
    venv = tmp_path_factory.mktemp("base") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    start = time.monotonic()
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                           str(source_copy(tmp_path_factory.mktemp("source")))],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"base install: {time.monotonic() - start:.1f} s")
    return venv


def run(venv, *args, cwd=None):
    return subprocess.run([str(venv / "bin" / "liveplay"), *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "XDG_CONFIG_HOME": "/nonexistent"})


def test_the_base_install_has_no_tensorflow_and_generates_and_renders(base_venv, tmp_path):
    python = str(base_venv / "bin" / "python")
    for module in ("tensorflow", "keras", "matplotlib", "music21"):
        assert subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode != 0, module
    out = tmp_path / "x.mid"
    done = run(base_venv, "generate", "--model", str(REPO / "models" / "default"), "--out", str(out),
               "--steps", "16", "--seed", "1")
    assert done.returncode == 0 and out.exists(), done.stderr
    done = run(base_venv, "render", str(out), "--png", str(tmp_path / "x.png"))
    assert done.returncode == 0 and (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG", done.stderr


def test_a_command_that_needs_an_extra_names_it_and_exits_2(base_venv, tmp_path):
    done = run(base_venv, "train", str(tmp_path), "--out", str(tmp_path / "m"))
    assert done.returncode == 2 and "liveplay train needs the train extra: pip install 'liveplay[train]'" in done.stderr
    done = run(base_venv, "corpus", str(tmp_path / "c"))
    assert done.returncode == 2 and "pip install 'liveplay[corpus]'" in done.stderr
    done = run(base_venv, "generate", "--engine", "tensorflow", "--out", str(tmp_path / "y.mid"))
    assert done.returncode == 2 and "engine: tensorflow needs the train extra" in done.stderr
