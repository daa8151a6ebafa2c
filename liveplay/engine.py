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

Step maths (NumPy runtime): sigmoid(x) = (tanh(x/2) + 1)/2, so the i, f, o gate
columns of every weight are halved once at load and one tanh covers all four
gates. Layer 0's input projection is a lookup table (V, 4H) = emb @ K0 + b0.
Layers above fuse input and recurrent weights into one (2H, 4H) matrix.
All buffers are allocated once; a step allocates nothing that grows.

This module does not import TensorFlow; ``make_engine`` imports the TensorFlow
runtime only when it is asked for or a GPU can exist (see ``gpu_possible``).
"""

from __future__ import annotations

import glob
import logging
import os
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


def _halve_sigmoid_gates(a: np.ndarray, hidden: int) -> np.ndarray:
    """Scale the i, f and o gate columns (Keras order i, f, c, o) by 1/2."""
    out = np.array(a, dtype=np.float32, copy=True)
    out[..., : 2 * hidden] *= 0.5
    out[..., 3 * hidden:] *= 0.5
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


class NumpyEngine(StaggeredWindow):
    """The NumPy runtime, exact (``streaming=False``) or streaming."""

    def __init__(self, bundle: Bundle, streaming: bool = False):
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

        # layer 0: token -> input projection with bias, gates pre-halved  # (V, 4H)
        self.table = _halve_sigmoid_gates(w["embedding"] @ w["lstm0.kernel"] + w["lstm0.bias"], h)
        self.recurrent0 = _halve_sigmoid_gates(w["lstm0.recurrent"], h)  # (H, 4H)
        self.fused = []  # layers >= 1: [input; recurrent] weights, bias  # (2H, 4H), (4H,)
        for i in range(1, self.layers):
            wi = np.concatenate([w[f"lstm{i}.kernel"], w[f"lstm{i}.recurrent"]], axis=0)
            self.fused.append((_halve_sigmoid_gates(wi, h), _halve_sigmoid_gates(w[f"lstm{i}.bias"], h)))
        self.dense_kernel = np.ascontiguousarray(w["dense.kernel"])  # (H, V)
        self.dense_bias = w["dense.bias"]  # (V,)

        # state: for layer i, io[i] = [input from the layer below | own h]  # (B, 2H)
        # (layer 0 takes its input from the table, so its left half stays unused)
        self.io = [np.zeros((batch, 2 * h), dtype=np.float32) for _ in range(self.layers)]
        self.cell = [np.zeros((batch, h), dtype=np.float32) for _ in range(self.layers)]
        self.gates = np.empty((batch, 4 * h), dtype=np.float32)  # (B, 4H)
        self.tmp = np.empty((batch, h), dtype=np.float32)  # (B, H)
        self.count = 0  # tokens pushed since reset
        self._probs: np.ndarray | None = None

    def reset(self, tokens: Sequence[int] = ()) -> None:
        for a in self.io + self.cell:
            a.fill(0.0)
        self.count = 0
        self._probs = None
        self._replay(tokens)

    def push(self, token: int) -> None:
        token = self._checked(token)
        h = self.hidden
        slot = self.restart_slot()
        if slot is not None:  # this slot starts over with this token
            for i in range(self.layers):
                self.io[i][slot] = 0.0
                self.cell[i][slot] = 0.0
        g = self.gates
        for i in range(self.layers):
            io, c = self.io[i], self.cell[i]
            if i == 0:
                np.matmul(io[:, h:], self.recurrent0, out=g)  # (B, 4H)
                g += self.table[token]
            else:
                weights, bias = self.fused[i - 1]
                np.matmul(io, weights, out=g)  # (B, 2H) @ (2H, 4H) -> (B, 4H)
                g += bias
            np.tanh(g, out=g)
            sig = g[:, : 2 * h]  # i, f  (B, 2H)
            sig *= 0.5
            sig += 0.5
            o = g[:, 3 * h:]  # (B, H)
            o *= 0.5
            o += 0.5
            np.multiply(c, g[:, h: 2 * h], out=c)  # f * c
            np.multiply(g[:, :h], g[:, 2 * h: 3 * h], out=self.tmp)  # i * g
            c += self.tmp
            np.tanh(c, out=self.tmp)
            new_h = io[:, h:]
            np.multiply(o, self.tmp, out=new_h)  # h = o * tanh(c)  (B, H)
            if i + 1 < self.layers:
                self.io[i + 1][:, :h] = new_h
        self.count += 1
        self._probs = None

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


def make_engine(bundle: Bundle, runtime: str = "auto") -> Engine:
    chosen = choose_runtime(runtime)
    if chosen == "numpy":
        engine: Engine = NumpyEngine(bundle)
    elif chosen == "numpy-streaming":
        engine = NumpyEngine(bundle, streaming=True)
    elif chosen == "tensorflow":
        from liveplay.engine_tf import TensorflowEngine

        engine = TensorflowEngine(bundle)
    else:
        raise ValueError(f"unknown engine {runtime!r}")
    log.info("engine: %s (asked for %s)", engine.name, runtime)
    return engine
