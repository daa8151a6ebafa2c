"""The step runtime: the model's next-token distribution for the current context, fast.

Contract (every runtime): ``reset(tokens)`` primes with a context, ``push(token)``
adds one token, ``distribution()`` gives the probabilities (float64, sums to 1)
that the Keras model gives on the exact last ``context_length`` tokens from a
zero state -- or on all of them while fewer have been pushed.

Exact mode keeps ``W = context_length`` staggered LSTM states as one batch. Before
token t is pushed, slot t mod W restarts from zero; then every slot advances by
token t in one batched step. After n pushes the slot restarted at n - W (slot 0
while n < W) has seen exactly the last min(n, W) tokens: its top state gives
the distribution. One batched step per tick instead of W sequential ones.

Streaming mode carries one state over everything pushed since ``reset``: cheaper
still, but it remembers beyond the window, so it drifts from the exact answer
(measured in benchmarks/engine.py).

Step maths (NumPy runtime): every gate goes through one exp and one reciprocal,
sigmoid(x) = 1 / (1 + exp(-x)) and tanh(x) = 2 sigmoid(2x) - 1, so the i, f, o
columns of every weight are negated and the c columns scaled by -2 once at load
(exp is several times cheaper than tanh in NumPy). Layer 0's input projection
is a lookup table (V, 4H) = emb @ K0 + b0. Layers above fuse input and recurrent
weights into one (2H, 4H) matrix. All buffers are allocated once; a step
allocates nothing that grows.

Threads: the W slots are independent, so exact mode splits them into ``threads``
row blocks that advance in parallel (NumPy and BLAS release the GIL), each BLAS
call single-threaded. Idle workers sleep; OpenBLAS's own threads would spin.

This module does not import TensorFlow; ``make_engine`` imports the TensorFlow
runtime only when it is asked for or a GPU can exist (see ``gpu_possible``).
"""

from __future__ import annotations

import glob
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, Sequence

import numpy as np

from liveplay.bundle import Bundle

log = logging.getLogger(__name__)


class Engine(Protocol):
    vocab_size: int
    context_length: int
    name: str

    def reset(self, tokens: Sequence[int] = ()) -> None: ...

    def push(self, token: int) -> None: ...

    def distribution(self) -> np.ndarray: ...


class StaggeredWindow:
    """The bookkeeping both runtimes share: token checks, which slot restarts, which is read.

    Slot t mod W restarts from zero before token t; after n pushes the slot restarted at
    n - W (slot 0 while n < W) has seen exactly the last min(n, W) tokens.
    """

    vocab_size: int
    context_length: int
    streaming: bool
    count: int

    def _checked(self, token: int) -> int:
        token = int(token)
        if not 0 <= token < self.vocab_size:
            raise ValueError(f"token id {token} outside the vocabulary (0..{self.vocab_size - 1})")
        return token

    def restart_slot(self) -> int | None:
        """The slot that starts over with the next token (None when streaming)."""
        return None if self.streaming else self.count % self.context_length

    def read_slot(self) -> int:
        """The batch row whose state has seen exactly the last min(count, W) tokens."""
        if self.streaming or self.count < self.context_length:
            return 0
        return self.count % self.context_length

    def _replay(self, tokens: Sequence[int]) -> None:
        """``reset``'s second half: push the context (its last W tokens unless streaming)."""
        keep = list(tokens) if self.streaming else list(tokens)[-self.context_length:]
        for t in keep:
            self.push(t)


def _exp_form(a: np.ndarray, hidden: int) -> np.ndarray:
    """Gate columns (Keras order i, f, c, o) scaled for the exp form: i, f, o by -1, c by -2."""
    out = np.array(a, dtype=np.float32, copy=True)
    out[..., : 2 * hidden] *= -1.0
    out[..., 2 * hidden: 3 * hidden] *= -2.0
    out[..., 3 * hidden:] *= -1.0
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


class _Block:
    """One row block of the batch: views into the engine's state and scratch buffers."""

    def __init__(self, io: list[np.ndarray], cell: list[np.ndarray], gates: np.ndarray, tmp: np.ndarray,
                 lo: int, hi: int):
        self.lo, self.hi = lo, hi
        self.io = [a[lo:hi] for a in io]  # (b, 2H) each
        self.cell = [a[lo:hi] for a in cell]  # (b, H) each
        self.gates = gates[lo:hi]  # (b, 4H)
        self.tmp = tmp[lo:hi]  # (b, H)


class NumpyEngine(StaggeredWindow):
    """The NumPy runtime, exact (``streaming=False``) or streaming; ``threads`` splits exact mode's batch."""

    def __init__(self, bundle: Bundle, streaming: bool = False, threads: int = 1):
        arch, w = bundle.architecture, bundle.weights
        if w is None:
            raise ValueError("the bundle was loaded without weights")
        self.vocab_size = arch.vocab_size
        self.context_length = bundle.grid.context_length
        self.streaming = streaming
        self.name = "numpy-streaming" if streaming else "numpy"
        h = self.hidden = arch.hidden
        self.layers = arch.layers
        batch = 1 if streaming else self.context_length

        # layer 0: token -> input projection with bias, in exp form  # (V, 4H)
        self.table = _exp_form(w["embedding"] @ w["lstm0.kernel"] + w["lstm0.bias"], h)
        self.recurrent0 = _exp_form(w["lstm0.recurrent"], h)  # (H, 4H)
        self.fused = []  # layers >= 1: [input; recurrent] weights, bias  # (2H, 4H), (4H,)
        for i in range(1, self.layers):
            wi = np.concatenate([w[f"lstm{i}.kernel"], w[f"lstm{i}.recurrent"]], axis=0)
            self.fused.append((_exp_form(wi, h), _exp_form(w[f"lstm{i}.bias"], h)))
        self.dense_kernel = np.ascontiguousarray(w["dense.kernel"])  # (H, V)
        self.dense_bias = w["dense.bias"]  # (V,)

        # state: for layer i, io[i] = [input from the layer below | own h]  # (B, 2H)
        # (layer 0 takes its input from the table, so its left half stays unused)
        self.io = [np.zeros((batch, 2 * h), dtype=np.float32) for _ in range(self.layers)]
        self.cell = [np.zeros((batch, h), dtype=np.float32) for _ in range(self.layers)]
        gates = np.empty((batch, 4 * h), dtype=np.float32)  # (B, 4H)
        tmp = np.empty((batch, h), dtype=np.float32)  # (B, H)
        self.threads = max(1, min(int(threads), batch // 8 or 1))  # blocks of at least 8 rows
        bounds = np.linspace(0, batch, self.threads + 1).astype(int)
        self.blocks = [_Block(self.io, self.cell, gates, tmp, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
        self._pool = (ThreadPoolExecutor(self.threads - 1, thread_name_prefix="liveplay-engine")
                      if self.threads > 1 else None)
        self.count = 0  # tokens pushed since reset
        self._probs: np.ndarray | None = None

    def close(self) -> None:
        """Stop the worker threads (also done when the engine is collected)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def reset(self, tokens: Sequence[int] = ()) -> None:
        for a in self.io + self.cell:
            a.fill(0.0)
        self.count = 0
        self._probs = None
        self._replay(tokens)

    def push(self, token: int) -> None:
        token = self._checked(token)
        slot = self.restart_slot()
        if slot is not None:  # this slot starts over with this token
            for i in range(self.layers):
                self.io[i][slot] = 0.0
                self.cell[i][slot] = 0.0
        if self._pool is None:
            self._advance(self.blocks[0], token)
        else:
            pending = [self._pool.submit(self._advance, block, token) for block in self.blocks[1:]]
            self._advance(self.blocks[0], token)
            for future in pending:
                future.result()
        self.count += 1
        self._probs = None

    def _advance(self, block: _Block, token: int) -> None:
        """Advance one row block by one token through every layer."""
        h, g, t = self.hidden, block.gates, block.tmp
        with np.errstate(over="ignore"):  # exp(large) = inf -> 1/inf = 0: the right limit
            for i in range(self.layers):
                io, c = block.io[i], block.cell[i]
                if i == 0:
                    np.matmul(io[:, h:], self.recurrent0, out=g)  # (b, H) @ (H, 4H) -> (b, 4H)
                    g += self.table[token]
                else:
                    weights, bias = self.fused[i - 1]
                    np.matmul(io, weights, out=g)  # (b, 2H) @ (2H, 4H) -> (b, 4H)
                    g += bias
                np.exp(g, out=g)
                g += 1.0
                np.divide(1.0, g, out=g)  # i, f, o = sigmoid; c column holds sigmoid(2x)
                cand = g[:, 2 * h: 3 * h]
                cand *= 2.0
                cand -= 1.0  # tanh(x) = 2 sigmoid(2x) - 1
                np.multiply(c, g[:, h: 2 * h], out=c)  # f * c
                np.multiply(g[:, :h], cand, out=t)  # i * tanh(x)
                c += t
                np.multiply(c, -2.0, out=t)
                np.exp(t, out=t)
                t += 1.0
                np.divide(2.0, t, out=t)
                t -= 1.0  # tanh(c)
                new_h = io[:, h:]
                np.multiply(g[:, 3 * h:], t, out=new_h)  # h = o * tanh(c)  (b, H)
                if i + 1 < self.layers:
                    block.io[i + 1][:, :h] = new_h

    def distribution(self) -> np.ndarray:
        if self.count == 0:
            raise ValueError("push at least one token before asking for a distribution")
        if self._probs is None:
            top = self.io[-1][self.read_slot(), self.hidden:]  # (H,)
            self._probs = softmax(top @ self.dense_kernel + self.dense_bias)  # (V,)
        return self._probs


def gpu_possible() -> bool:
    """Cheap test, without importing TensorFlow: could a CUDA GPU be visible at all?"""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return bool(glob.glob("/dev/nvidia[0-9]*") or os.path.exists("/dev/dxg"))


def choose_runtime(requested: str) -> str:
    """``auto`` -> 'tensorflow' when TensorFlow sees a GPU, else 'numpy' (TF not imported then)."""
    if requested != "auto":
        return requested
    if not gpu_possible():
        return "numpy"
    try:
        import tensorflow as tf
    except ImportError:
        return "numpy"
    return "tensorflow" if tf.config.list_physical_devices("GPU") else "numpy"


def make_engine(bundle: Bundle, runtime: str = "auto", threads: int = 1) -> Engine:
    """The runtime asked for; ``threads`` = CPU threads of a NumPy exact step (capped at the cores)."""
    chosen = choose_runtime(runtime)
    if chosen == "numpy":
        engine: Engine = NumpyEngine(bundle, threads=min(threads, os.cpu_count() or 1))
    elif chosen == "numpy-streaming":
        engine = NumpyEngine(bundle, streaming=True)
    elif chosen == "tensorflow":
        from liveplay.engine_tf import TensorflowEngine

        engine = TensorflowEngine(bundle)
    else:
        raise ValueError(f"unknown engine {runtime!r}")
    log.info("engine: %s%s (asked for %s)", engine.name,
             f", {engine.threads} threads" if getattr(engine, "threads", 1) > 1 else "", runtime)
    return engine
