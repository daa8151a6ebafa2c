"""The NumPy step runtime (CPU): exact staggered window or streaming (``engine`` has the contract).

Step maths: every gate goes through one exp and one reciprocal,
sigmoid(x) = 1 / (1 + exp(-x)) and tanh(x) = 2 sigmoid(2x) - 1, so the i, f, o
columns of every weight are negated and the c columns scaled by -2 once at load
(exp is several times cheaper than tanh in NumPy). Layer 0's input projection
is a lookup table (V, 4H) = emb @ K0 + b0. All buffers are allocated once; a step
allocates nothing that grows.

Two halves of a step: every layer's recurrent product h(t-1) @ R (+ bias) does not
depend on the next token, so ``prepare()`` computes it ahead, while the daemon waits for
the next step's input (two thirds of a 2-layer step's multiply-adds). The rest needs the
token, but the distribution reads one row of the batch (the slot that has heard exactly the
window): so ``distribution()`` advances that row alone, on the side, and the batch's advance
by the token waits for the next ``prepare()`` (or ``push``), after the decision. The step the
daemon waits for is then one row's gates and the output layer. ``push`` without a
``prepare`` first does both halves itself: the same numbers (to BLAS's rounding of a row
against a block).

Threads: the W slots are independent, so exact mode splits them into ``threads``
row blocks that advance in parallel (NumPy and BLAS release the GIL) on a small
pool whose workers sleep between steps. Every call of the step runs with BLAS
limited to one thread (``threadpoolctl``), whoever created the engine: OpenBLAS's
own threads would otherwise spin against the engine's workers on a small machine.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Sequence

import numpy as np
from threadpoolctl import ThreadpoolController

from liveplay.model.bundle import Bundle
from liveplay.model.engine import StaggeredWindow, softmax


@lru_cache(maxsize=1)
def _blas() -> ThreadpoolController:
    """The process's BLAS libraries, looked up once (a few ms); ``limit`` costs ~12 us a call."""
    return ThreadpoolController()


def _exp_form(a: np.ndarray, hidden: int) -> np.ndarray:
    """Gate columns (Keras order i, f, c, o) scaled for the exp form: i, f, o by -1, c by -2."""
    out = np.array(a, dtype=np.float32, copy=True)
    out[..., : 2 * hidden] *= -1.0
    out[..., 2 * hidden: 3 * hidden] *= -2.0
    out[..., 3 * hidden:] *= -1.0
    return out


def _buffers(layers: int, rows: int, hidden: int) -> tuple[list, list, list, np.ndarray, np.ndarray]:
    """The step's state and scratch for ``rows`` rows: for layer i, io[i] = [input from the layer
    below | own h] (rows, 2H; layer 0 takes its input from the table, so its left half stays
    unused), cell[i] (rows, H), ahead[i] = h(t-1) @ R + bias computed by prepare() (rows, 4H); then
    the gates (rows, 4H) and a temporary (rows, H) the layers share."""
    def zeros(width: int) -> list[np.ndarray]:
        return [np.zeros((rows, width), dtype=np.float32) for _ in range(layers)]

    return (zeros(2 * hidden), zeros(hidden), zeros(4 * hidden), np.empty((rows, 4 * hidden), dtype=np.float32),
            np.empty((rows, hidden), dtype=np.float32))


class _Block:
    """One row block of the batch: views into the engine's state and scratch buffers."""

    def __init__(self, io: list[np.ndarray], cell: list[np.ndarray], ahead: list[np.ndarray],
                 gates: np.ndarray, tmp: np.ndarray, lo: int, hi: int):
        self.lo, self.hi = lo, hi
        self.io = [a[lo:hi] for a in io]  # (b, 2H) each
        self.cell = [a[lo:hi] for a in cell]  # (b, H) each
        self.ahead = [a[lo:hi] for a in ahead]  # (b, 4H) each
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
        self.recurrent = [_exp_form(w[f"lstm{i}.recurrent"], h) for i in range(self.layers)]  # (H, 4H) each
        self.kernel = [None] + [_exp_form(w[f"lstm{i}.kernel"], h) for i in range(1, self.layers)]  # (H, 4H)
        zero = np.zeros(4 * h, dtype=np.float32)  # layer 0's bias is in the table
        self.bias = [zero] + [_exp_form(w[f"lstm{i}.bias"], h) for i in range(1, self.layers)]  # (4H,) each
        self.dense_kernel = np.ascontiguousarray(w["dense.kernel"])  # (H, V)
        self.dense_bias = w["dense.bias"]  # (V,)

        self.io, self.cell, self.ahead, gates, tmp = _buffers(self.layers, batch, h)
        self._gates, self._tmp = gates, tmp
        self.prepared = False  # the ahead products are the next step's
        self.threads = max(1, min(int(threads), batch // 8 or 1))  # blocks of at least 8 rows
        bounds = np.linspace(0, batch, self.threads + 1).astype(int)
        self.blocks = [_Block(self.io, self.cell, self.ahead, gates, tmp, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
        self._pool = (ThreadPoolExecutor(self.threads - 1, thread_name_prefix="engine")
                      if self.threads > 1 else None)
        self._heads: dict[int, _Block] = {}  # rows 0..n-1 as one block, while fewer slots have started
        # the read row's copy, advanced on the side by the last token while the batch waits for it
        self._side = _Block(*_buffers(self.layers, 1, h), 0, 1)
        # the token the batch has still to advance by, and the rows it advances (``_started`` then)
        self._pending: tuple[int, int | None] | None = None
        self.count = 0  # tokens pushed since reset
        self._probs: np.ndarray | None = None

    def close(self) -> None:
        """Stop the worker threads (the daemon does it at stop; idle workers only sleep)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def reset(self, tokens: Sequence[int] = ()) -> None:
        for a in self.io + self.cell:
            a.fill(0.0)
        self.count = 0
        self._probs = None
        self.prepared = False
        self._pending = None
        self._replay(tokens)

    def prepare(self) -> None:
        """What the next step can do before its token (see the module doc): the batch's advance by
        the last token, then the recurrent products; ``push`` and ``distribution`` take the rest."""
        if self._pending is not None:
            token, rows = self._pending
            self._pending = None
            self._blocks(self._advance, rows, token)
        if not self.prepared:
            self._blocks(self._ahead, self._started())
            self.prepared = True

    def push(self, token: int) -> None:
        token = self._checked(token)
        self.prepare()
        slot = self.restart_slot()
        if slot is not None:  # this slot starts over with this token: zero state, nothing carried
            for i in range(self.layers):
                self.io[i][slot] = 0.0
                self.cell[i][slot] = 0.0
                self.ahead[i][slot] = self.bias[i]
        if self.streaming:  # one row: it is the read row
            self._blocks(self._advance, None, token)
        else:  # the batch advances in the next prepare(); the read row on the side, when asked
            self._pending = (token, self._started())
        self.prepared = False
        self.count += 1
        self._probs = None

    def _started(self) -> int | None:
        """Rows the next push advances, while not all W slots have started since reset: slots
        0..count-1 carry a state and slot ``count`` starts with the next token; the rest are
        restarted from zero before their first token, so advancing them now would be thrown
        away. None: every row (streaming, or the window full)."""
        n = self.count + 1
        return None if self.streaming or n >= self.context_length else n

    def _blocks(self, work, n: int | None, *args) -> None:
        """``work(block, *args)`` on every row block, in parallel on the pool when there is one;
        on rows 0..n-1 only (the started rows after a reset: a short prime costs a few rows, not
        W); every row when ``n`` is None."""
        with _blas().limit(limits=1, user_api="blas"):  # our own threads split the batch, not BLAS's
            if n is not None:
                head = self._heads.get(n)
                if head is None:
                    head = self._heads[n] = _Block(self.io, self.cell, self.ahead, self._gates, self._tmp, 0, n)
                work(head, *args)
            elif self._pool is None:
                work(self.blocks[0], *args)
            else:
                pending = [self._pool.submit(work, block, *args) for block in self.blocks[1:]]
                work(self.blocks[0], *args)
                for future in pending:
                    future.result()

    def _ahead(self, block: _Block) -> None:
        """Every layer's recurrent product and bias for the next step, from the states now."""
        h = self.hidden
        for i in range(self.layers):
            np.matmul(block.io[i][:, h:], self.recurrent[i], out=block.ahead[i])  # (b, H) @ (H, 4H)
            block.ahead[i] += self.bias[i]

    def _advance(self, block: _Block, token: int) -> None:
        """Advance one row block by one token through every layer (``_ahead`` done)."""
        h, g, t = self.hidden, block.gates, block.tmp
        with np.errstate(over="ignore"):  # exp(large) = inf -> 1/inf = 0: the right limit
            for i in range(self.layers):
                io, c = block.io[i], block.cell[i]
                if i == 0:
                    np.add(block.ahead[0], self.table[token], out=g)  # (b, 4H)
                else:
                    np.matmul(io[:, :h], self.kernel[i], out=g)  # input from below: (b, H) @ (H, 4H)
                    g += block.ahead[i]
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
            with _blas().limit(limits=1, user_api="blas"):
                self._probs = softmax(self._top() @ self.dense_kernel + self.dense_bias)  # (V,)
        return self._probs

    def _top(self) -> np.ndarray:
        """(H,) the top layer's state of the read row, after every token pushed: while the batch
        has still to advance by the last one, that row's copy advanced by it on the side."""
        row = self.read_slot()
        if self._pending is None:
            return self.io[-1][row, self.hidden:]
        side = self._side
        for i in range(self.layers):
            side.io[i][0] = self.io[i][row]
            side.cell[i][0] = self.cell[i][row]
            side.ahead[i][0] = self.ahead[i][row]
        self._advance(side, self._pending[0])
        return side.io[-1][0, self.hidden:]
