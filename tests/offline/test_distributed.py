"""Two CPU workers on 127.0.0.1 (TF_CONFIG, MultiWorkerMirroredStrategy) train on prepared shards.

Real processes, real TensorFlow: one bundle (the chief's), loadable and generating, a validation
loss close to one worker's with the same global batch, data and seed; a worker killed with SIGKILL
and started again goes on from its backup.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from liveplay import cli
from liveplay.config import load_settings
from liveplay.model.bundle import load_bundle
from liveplay.offline import shards

from conftest import TINY_CONFIG

pytest.importorskip("tf_keras", reason="multi-worker training needs the tf-keras package (the train extra)")

EPOCHS = 4
# the same global batch of 16 windows: 8 on each of two workers, or 16 on one
CONFIG = TINY_CONFIG.replace("epochs: 40", f"epochs: {EPOCHS}") + "prepare:\n  shard_windows: 40\n  jobs: 2\n"
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}  # two workers share 2 cores
VAL_LOSS_TOLERANCE = 0.25  # two workers' best validation loss within this of one worker's (nats)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def worker_env(ports, index):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **ONE_THREAD)
    env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                                   "task": {"type": "worker", "index": index}})
    return env


def start(prepared, out, config, env, log_path):
    log = open(log_path, "a")
    return subprocess.Popen([sys.executable, "-m", "liveplay", "train", str(prepared), "--out", str(out),
                             "--config", str(config)], env=env, stdout=log, stderr=subprocess.STDOUT)


def finish(procs, logs, timeout=240):
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail("workers did not finish:\n" + "\n".join(l.read_text()[-3000:] for l in logs))
    return [p.returncode for p in procs]


@pytest.fixture(scope="module")
def setup(pattern_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    two, one = root / "two.yaml", root / "one.yaml"
    two.write_text(CONFIG.replace("batch_size: 16", "batch_size: 8"))
    one.write_text(CONFIG)
    prepared = root / "prepared"
    manifest = shards.prepare([pattern_dir], prepared, load_settings(two))
    assert len(manifest["shards"]["train"]) >= 2  # each worker reads its own shard files
    return root, prepared, one, two


def test_two_workers_write_one_bundle_that_matches_one_worker(setup, tmp_path):
    import liveplay

    assert str(liveplay.__file__).startswith(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    root, prepared, one, two = setup
    ports = free_ports(2)
    out = tmp_path / "model"
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    procs = [start(prepared, out, two, worker_env(ports, i), logs[i]) for i in range(2)]
    single_out, single_log = tmp_path / "single", tmp_path / "single.log"
    codes = finish(procs, logs)
    assert codes == [0, 0], "\n".join(l.read_text()[-3000:] for l in logs)
    single_env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **ONE_THREAD)
    single_env.pop("TF_CONFIG", None)
    assert finish([start(prepared, single_out, one, single_env, single_log)], [single_log]) == [0]

    # exactly one bundle: the chief's; the other worker's temporary folder is gone
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["model", "single"]
    assert "wrote nothing (not the chief)" in logs[1].read_text()
    bundle = load_bundle(out)
    t = bundle.manifest.training
    assert (t.strategy, t.workers, t.devices, t.global_batch_size, t.data) == (
        "multi-worker", 2, ("CPU",), 16, "prepared")
    assert t.epochs_run == EPOCHS
    single = load_bundle(single_out).manifest.training
    assert (single.strategy, single.workers, single.global_batch_size) == ("one-device", 1, 16)
    print(f"best val_loss: two workers {t.best['val_loss']:.4f}, one worker {single.best['val_loss']:.4f}")
    assert abs(t.best["val_loss"] - single.best["val_loss"]) <= VAL_LOSS_TOLERANCE

    midi = tmp_path / "gen.mid"
    assert cli.main(["generate", "--config", str(two), "--model", str(out), "--out", str(midi), "--steps", "16",
                     "--seed", "1"]) == 0
    assert midi.stat().st_size > 0


def test_a_killed_worker_restarted_goes_on_from_the_backup(setup, tmp_path):
    root, prepared, one, two = setup
    config = tmp_path / "long.yaml"
    config.write_text(two.read_text().replace(f"epochs: {EPOCHS}", "epochs: 4"))
    ports = free_ports(2)
    out = tmp_path / "model"
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    procs = [start(prepared, out, config, worker_env(ports, i), logs[i]) for i in range(2)]
    state = out.with_name("model.backup") / "keeper.json"
    deadline = time.monotonic() + 180
    while not (state.exists() and len(json.loads(state.read_text())["rows"]) >= 2):  # replaced atomically
        assert all(p.poll() is None for p in procs), "\n".join(l.read_text()[-3000:] for l in logs)
        assert time.monotonic() < deadline, "no second epoch within 180 s"
        time.sleep(0.1)
    os.kill(procs[1].pid, signal.SIGKILL)
    procs[1].wait()
    try:  # the chief's next all-reduce fails (peer gone); a hung chief is killed the same way
        procs[0].wait(60)
    except subprocess.TimeoutExpired:
        procs[0].kill()
        procs[0].wait()
    assert procs[0].returncode != 0
    done_before = len(json.loads(state.read_text())["rows"])
    # both started again, as a cluster manager would; each goes on from the backup
    procs = [start(prepared, out, config, worker_env(ports, i), logs[i]) for i in range(2)]
    assert finish(procs, logs) == [0, 0], "\n".join(l.read_text()[-3000:] for l in logs)
    text = logs[0].read_text()
    assert "going on from its backup" in text
    after = text[text.index("going on from its backup"):]
    epochs_after = [int(line.split("epoch ")[1].split(":")[0]) for line in after.splitlines()
                    if "liveplay.offline.train: epoch " in line]
    assert epochs_after and epochs_after[0] == done_before + 1 and epochs_after[-1] == 4
    bundle = load_bundle(out)
    assert bundle.manifest.training.epochs_run == 4
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(1, 5))
    assert not out.with_name("model.backup").exists()  # the finished run leaves no backup
