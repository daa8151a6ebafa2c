"""The TensorFlow runtime: the exact staggered-window engine (engine.py), device-resident.

Weights and the W staggered states are tf.Variables placed once on the best device
(the GPU when TensorFlow sees one); a tick is one compiled ``tf.function`` call
that restarts one slot, advances all W slots by the token and returns the
read slot's distribution. Only the token goes in and V probabilities come out;
no weight crosses between host and device after construction.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from liveplay.model.bundle import Bundle
from liveplay.model.engine import StaggeredWindow


class TensorflowEngine(StaggeredWindow):
    def __init__(self, bundle: Bundle, streaming: bool = False):
        arch, w = bundle.architecture, bundle.weights
        self.vocab_size = arch.vocab_size
        self.context_length = bundle.grid.context_length
        self.streaming = streaming
        self.hidden = h = arch.hidden
        self.layers = arch.layers
        gpus = tf.config.list_physical_devices("GPU")
        self.device = "/GPU:0" if gpus else "/CPU:0"
        self.name = "tensorflow-gpu" if gpus else "tensorflow-cpu"
        batch = 1 if streaming else self.context_length
        with tf.device(self.device):
            self.table = tf.constant(w["embedding"] @ w["lstm0.kernel"] + w["lstm0.bias"])  # (V, 4H)
            self.kernels = [tf.constant(w["lstm0.recurrent"])]  # layer 0: (H, 4H)
            self.biases = [tf.zeros((4 * h,), tf.float32)]
            for i in range(1, self.layers):
                fused = np.concatenate([w[f"lstm{i}.kernel"], w[f"lstm{i}.recurrent"]], axis=0)
                self.kernels.append(tf.constant(fused))  # (2H, 4H)
                self.biases.append(tf.constant(w[f"lstm{i}.bias"]))
            self.dense_kernel = tf.constant(w["dense.kernel"])  # (H, V)
            self.dense_bias = tf.constant(w["dense.bias"])  # (V,)
            self.h = [tf.Variable(tf.zeros((batch, h))) for _ in range(self.layers)]  # (B, H)
            self.c = [tf.Variable(tf.zeros((batch, h))) for _ in range(self.layers)]  # (B, H)
        self.count = 0
        self._probs: np.ndarray | None = None
        self._step = tf.function(self._step_graph, jit_compile=bool(gpus), reduce_retracing=True)

    def _step_graph(self, token, restart_slot, read_slot):
        h = self.hidden
        keep = 1.0 - tf.one_hot(restart_slot, tf.shape(self.h[0])[0])[:, None]  # (B, 1), 0 at restart
        below = None
        for i in range(self.layers):
            h_prev = self.h[i] * keep  # (B, H)
            c_prev = self.c[i] * keep
            if i == 0:
                z = tf.matmul(h_prev, self.kernels[0]) + self.table[token]  # (B, 4H)
            else:
                z = tf.matmul(tf.concat([below, h_prev], axis=1), self.kernels[i]) + self.biases[i]
            gi = tf.sigmoid(z[:, :h])
            gf = tf.sigmoid(z[:, h: 2 * h])
            gc = tf.tanh(z[:, 2 * h: 3 * h])
            go = tf.sigmoid(z[:, 3 * h:])
            c_new = gf * c_prev + gi * gc
            h_new = go * tf.tanh(c_new)  # (B, H)
            self.c[i].assign(c_new)
            self.h[i].assign(h_new)
            below = h_new
        logits = tf.linalg.matvec(self.dense_kernel, below[read_slot], transpose_a=True) + self.dense_bias
        return tf.nn.softmax(logits)  # (V,)

    def reset(self, tokens: Sequence[int] = ()) -> None:
        for v in self.h + self.c:
            v.assign(tf.zeros_like(v))
        self.count = 0
        self._probs = None
        self._replay(tokens)

    def push(self, token: int) -> None:
        token = self._checked(token)
        restart = self.restart_slot()
        self.count += 1
        self._probs = self._step(tf.constant(token, tf.int32),
                                 tf.constant(-1 if restart is None else restart, tf.int32),  # -1: none
                                 tf.constant(self.read_slot(), tf.int32))

    def distribution(self) -> np.ndarray:
        if self.count == 0:
            raise ValueError("push at least one token before asking for a distribution")
        p = np.asarray(self._probs, dtype=np.float64)
        return p / p.sum()
