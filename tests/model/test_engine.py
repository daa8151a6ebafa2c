"""The engine gives the Keras model's distribution on the exact last W tokens (<= 1e-4)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from liveplay.model.bundle import load_bundle
from liveplay.model.numpy_engine import NumpyEngine
from liveplay.model.runtime import choose_runtime, make_engine

TOL = 1e-4


@pytest.fixture(scope="module")
def bundle(tiny_model):
    return load_bundle(tiny_model)


@pytest.fixture(scope="module")
def keras_last(bundle):
    """P(next | context) from Keras on the whole given context, from a zero state."""
    import tensorflow as tf

    from liveplay.model.keras_model import model_from_bundle

    model = model_from_bundle(bundle)

    def run(contexts):
        x = tf.constant(np.asarray(contexts, dtype=np.int32))  # (B, T)
        logits = model(x, training=False)[:, -1, :]  # (B, V)
        return tf.nn.softmax(tf.cast(logits, tf.float64)).numpy()

    return run


def engines(bundle):
    from liveplay.model.tf_engine import TensorflowEngine

    return [NumpyEngine(bundle), NumpyEngine(bundle, threads=3), TensorflowEngine(bundle)]


RUNTIMES = dict(argvalues=[0, 1, 2], ids=["numpy", "numpy-3-threads", "tensorflow"])


@pytest.mark.parametrize("which", **RUNTIMES)
def test_random_contexts_match_keras(bundle, keras_last, which):
    engine = engines(bundle)[which]
    rng = np.random.default_rng(0)
    w, v = bundle.grid.context_length, bundle.architecture.vocab_size
    contexts = rng.integers(0, v, size=(12, w))
    want = keras_last(contexts)
    for ctx, expected in zip(contexts, want):
        engine.reset(ctx)
        got = engine.distribution()
        assert got.shape == (v,) and abs(got.sum() - 1) < 1e-9
        assert np.abs(got - expected).max() <= TOL


@pytest.mark.parametrize("which", **RUNTIMES)
def test_short_contexts_match_keras(bundle, keras_last, which):
    engine = engines(bundle)[which]
    rng = np.random.default_rng(1)
    v = bundle.architecture.vocab_size
    tokens = rng.integers(0, v, size=bundle.grid.context_length - 1)
    engine.reset(())
    for n in range(1, len(tokens) + 1):
        engine.push(tokens[n - 1])
        if n in (1, 2, 5, len(tokens)):
            expected = keras_last(tokens[None, :n])[0]
            assert np.abs(engine.distribution() - expected).max() <= TOL, f"context of {n}"


@pytest.mark.parametrize("which", **RUNTIMES)
def test_thousands_of_pushes_stay_exact(bundle, keras_last, which):
    engine = engines(bundle)[which]
    rng = np.random.default_rng(2)
    w, v = bundle.grid.context_length, bundle.architecture.vocab_size
    stream = rng.integers(0, v, size=1200 if which == 2 else 3000)
    engine.reset(())
    checks = {w - 1, w, w + 1, 2 * w + 7, len(stream) - 1}
    windows, got = [], []
    for i, t in enumerate(stream):
        engine.push(t)
        if i in checks:
            windows.append(stream[max(0, i - w + 1): i + 1])
            got.append(engine.distribution().copy())
    for window, g in zip(windows, got):
        expected = keras_last(window[None, :])[0]
        assert np.abs(g - expected).max() <= TOL


@pytest.mark.parametrize("which", **RUNTIMES)
def test_a_reset_mid_stream_with_a_short_prime_stays_exact_as_the_window_fills(bundle, keras_last, which):
    """A reset-context while playing: the exact engine then advances only the slots started since
    (a short prime costs a few rows); the rows left behind must not leak in when the window fills."""
    engine = engines(bundle)[which]
    rng = np.random.default_rng(5)
    w, v = bundle.grid.context_length, bundle.architecture.vocab_size
    engine.reset(())
    for t in rng.integers(0, v, size=w + 9):
        engine.push(t)
        engine.prepare()
    prime = list(rng.integers(0, v, size=2))
    engine.reset(prime)
    heard = list(prime)
    for i, t in enumerate(rng.integers(0, v, size=w + 4)):
        engine.prepare() if i % 2 else None  # with and without the half done ahead
        engine.push(t)
        heard.append(int(t))
        if len(heard) in (3, w - 1, w, w + 1, w + 5):
            expected = keras_last(np.array(heard[-w:])[None, :])[0]
            assert np.abs(engine.distribution() - expected).max() <= TOL, f"{len(heard)} tokens after the reset"


def test_threaded_blocks_compute_the_same_numbers(bundle):
    one, three = NumpyEngine(bundle), NumpyEngine(bundle, threads=3)
    sizes = [b.hi - b.lo for b in three.blocks]
    assert sum(sizes) == one.context_length and len(set(sizes)) > 1  # an uneven split: the bounds matter
    stream = np.random.default_rng(4).integers(0, bundle.architecture.vocab_size, size=3 * one.context_length)
    for t in stream:
        one.push(t)
        three.push(t)
        assert np.abs(one.distribution() - three.distribution()).max() <= 1e-5  # BLAS rounds per block shape
    three.close()


@pytest.mark.parametrize("streaming", [False, True])
def test_prepare_ahead_changes_no_distribution(bundle, keras_last, streaming):
    """The daemon calls prepare() after each decision, sometimes twice (a mode with two models),
    and a reset may come between: the next push must give exactly the numbers it gives alone."""
    ahead, alone = NumpyEngine(bundle, streaming=streaming, threads=2), NumpyEngine(bundle, streaming=streaming)
    w = alone.context_length
    stream = np.random.default_rng(5).integers(0, bundle.architecture.vocab_size, size=3 * w)
    for i, t in enumerate(stream):
        for _ in range(1 + i % 3):  # none twice in a row is different from once
            ahead.prepare()
        if i == w + 7:  # a reset-context between a prepare and the next push
            ahead.reset(stream[i - 3: i])
            alone.reset(stream[i - 3: i])
            ahead.prepare()
        ahead.push(t)
        alone.push(t)
        assert np.abs(ahead.distribution() - alone.distribution()).max() <= 1e-5, i  # BLAS rounds per block
    if not streaming:  # and still the Keras model's answer on the last window
        expected = keras_last(np.asarray(stream[-w:])[None, :])[0]
        assert np.abs(ahead.distribution() - expected).max() <= TOL
    ahead.close()


@pytest.mark.parametrize("threads", [1, 2])
def test_the_step_after_prepare_advances_one_row_and_the_batch_follows_in_the_next_prepare(bundle, keras_last,
                                                                                          threads):
    """The daemon's wait is ``push`` + ``distribution`` after a ``prepare``: the read row advances
    alone; the batch's W rows advance by that token in the next ``prepare``, off the wait -- and
    the answers stay Keras's on the exact window all along."""
    engine = NumpyEngine(bundle, threads=threads)
    w = engine.context_length
    rows = []
    advance = engine._advance

    def counted(block, token):
        rows.append(block.hi - block.lo)
        advance(block, token)

    engine._advance = counted
    stream = np.random.default_rng(6).integers(0, bundle.architecture.vocab_size, size=2 * w + 3)
    engine.reset(stream[:w])
    for i, t in enumerate(stream[w:]):
        engine.prepare()
        rows.clear()
        engine.push(t)
        got = engine.distribution()
        assert rows == [1], rows  # the wait: one row's gates
        rows.clear()
        engine.prepare()
        assert sum(rows) == w  # the batch, after the decision
        assert np.array_equal(engine.distribution(), got)  # and the answer it gave is kept
        if i in (0, w - 1, w + 2):
            expected = keras_last(stream[i + 1: i + 1 + w][None, :])[0]
            assert np.abs(got - expected).max() <= TOL, i
    engine.close()


def test_streaming_equals_exact_within_the_window_and_then_drifts(bundle):
    exact, streaming = NumpyEngine(bundle), NumpyEngine(bundle, streaming=True)
    rng = np.random.default_rng(3)
    w = bundle.grid.context_length
    stream = rng.integers(0, bundle.architecture.vocab_size, size=3 * w)
    exact.reset(())
    streaming.reset(())
    diffs = []
    for t in stream:
        exact.push(t)
        streaming.push(t)
        diffs.append(np.abs(exact.distribution() - streaming.distribution()).max())
    assert max(diffs[:w]) <= 1e-6  # the same computation while nothing has left the window
    assert max(diffs[w:]) > 1e-6  # after that, streaming remembers more than the window


def test_bad_token_is_an_error_not_a_crash(bundle):
    engine = NumpyEngine(bundle)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        engine.push(bundle.architecture.vocab_size)
    with pytest.raises(ValueError, match="push at least one token"):
        engine.reset(())
        engine.distribution()


def test_numpy_path_never_imports_tensorflow(tiny_model):
    code = f"""
import sys
from liveplay.model.bundle import load_bundle
from liveplay.model.runtime import make_engine
from liveplay.offline.generate import generate
from liveplay.music.sampler import Sampler
from liveplay.config import load_settings
b = load_bundle({str(tiny_model)!r})
e = make_engine(b, 'numpy')
g = generate(b, e, Sampler(load_settings().sampler, seed=1), 20)
e2 = make_engine(b, 'numpy-streaming')
assert len(g.ids) == 20
print('tensorflow' in sys.modules, 'keras' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False False"


def test_auto_chooses_numpy_without_importing_tensorflow_when_no_gpu_can_exist(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert choose_runtime("auto") == "numpy"
    assert choose_runtime("numpy-streaming") == "numpy-streaming"


def test_make_engine_names(bundle):
    assert make_engine(bundle, "numpy").name == "numpy"
    assert make_engine(bundle, "numpy", threads=64).threads <= (os.cpu_count() or 1)
    assert make_engine(bundle, "numpy-streaming").name == "numpy-streaming"
    assert make_engine(bundle, "tensorflow").name.startswith("tensorflow")


def test_engine_for_plays_the_mixes_the_settings_name(bundle):
    """``engine_for`` is ``make_engine`` with the model settings' mixes, any of them overridden."""
    from liveplay.config import load_settings
    from liveplay.model.runtime import engine_for

    model = load_settings().override({"model.short_term": 0.3, "model.key_keeping": 0.5}).model
    made = engine_for(bundle, model, "numpy")
    assert made.name == make_engine(bundle, "numpy", short_term=0.3).name
    assert made.name == "numpy + short-term 0.3"  # the tiny bundle has no long-term tables; key keeping is the answer's
    assert engine_for(bundle, model, "numpy", short_term=0.0).name == "numpy"
    context = [1, 2, 3]
    made.reset(context)
    twin = make_engine(bundle, "numpy", short_term=0.3)
    twin.reset(context)
    assert np.array_equal(made.distribution(), twin.distribution())


@pytest.mark.parametrize("threads", [1, 2])
def test_memory_does_not_grow_over_many_pushes(bundle, threads):
    import tracemalloc

    engine = NumpyEngine(bundle, threads=threads)
    engine.reset([0])
    for t in range(2000):  # warm up caches
        engine.push(t % bundle.architecture.vocab_size)
        engine.distribution()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for t in range(20000):
        engine.push(t % bundle.architecture.vocab_size)
        engine.distribution()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert grown < 64 * 1024, f"{grown} bytes grew over 20 000 steps"


def test_the_engine_limits_blas_to_one_thread_for_its_own_calls(tiny_model):
    """Library use (no environment variables set first) runs BLAS one thread a call inside the
    engine, as the daemon does, and leaves the process's setting as it was outside it."""
    code = f"""
import os
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.pop(var, None)
from threadpoolctl import threadpool_info, threadpool_limits
threadpool_limits(2, user_api="blas")  # as a library user's process may be set
from liveplay.model.bundle import load_bundle
from liveplay.model.numpy_engine import NumpyEngine
engine = NumpyEngine(load_bundle({str(tiny_model)!r}), threads=2)
seen = []
advance = engine._advance
def spy(block, token):
    seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
    advance(block, token)
engine._advance = spy
engine.push(1)
engine.distribution()
after = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
engine.close()
print(sorted(set(seen)), after)
"""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "2" and out.stdout.strip().startswith("[1]"), out.stdout
