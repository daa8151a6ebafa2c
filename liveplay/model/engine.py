"""The engine contract: what every step runtime gives, and the bookkeeping they share.

Contract (every runtime): ``reset(tokens)`` primes with a context, ``push(token)``
adds one token, ``distribution()`` gives the probabilities (float64, sums to 1)
that the Keras model gives on the exact last ``context_length`` tokens from a
zero state -- or on all of them while fewer have been pushed. ``prepare()`` may do
ahead whatever the next ``push`` and ``distribution`` need no new token for (the daemon
calls it after each decision, so the step that waits for the musician's input is
shorter; the NumPy runtime also finishes there the batch's advance by the last token,
whose distribution needed one row of it); it never changes a distribution. ``close()``
stops whatever threads the runtime holds.

Exact mode keeps ``W = context_length`` staggered LSTM states as one batch. Before
token t is pushed, slot t mod W restarts from zero; then every slot advances by
token t in one batched step. After n pushes the slot restarted at n - W (slot 0
while n < W) has seen exactly the last min(n, W) tokens: its top state gives
the distribution. One batched step per tick instead of W sequential ones.

Streaming mode carries one state over everything pushed since ``reset``: cheaper
still, but it remembers beyond the window, so it drifts from the exact answer
(measured in benchmarks/engine.py).

The runtimes: ``numpy_engine`` (CPU, the daemon's default), ``tf_engine`` (TensorFlow,
GPU-resident when there is a GPU); ``runtime.make_engine`` picks one.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class Engine(Protocol):
    vocab_size: int
    context_length: int
    name: str

    def reset(self, tokens: Sequence[int] = ()) -> None: ...

    def push(self, token: int) -> None: ...

    def distribution(self) -> np.ndarray: ...

    def prepare(self) -> None: ...

    def close(self) -> None: ...


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

    def prepare(self) -> None:
        """The next push's token-free half, ahead; a runtime that cannot split its step does nothing."""

    def close(self) -> None:
        """Stop the runtime's threads; a runtime without any has nothing to do."""

    def _replay(self, tokens: Sequence[int]) -> None:
        """``reset``'s second half: push the context (its last W tokens unless streaming)."""
        keep = list(tokens) if self.streaming else list(tokens)[-self.context_length:]
        for t in keep:
            self.push(t)


class Listener:
    """An ``Engine`` around another that hears the same tokens and changes its answer
    (``shortterm``, ``harmony``): the inner engine takes each token first, so a token it refuses
    is not heard; a reset hears the prime's last W tokens (``_forget`` is told how many came
    before them); the answer is ``_answer(inner distribution)``, kept until the next token."""

    def __init__(self, inner: Engine, name: str):
        self.inner, self.name = inner, name
        self.vocab_size, self.context_length = inner.vocab_size, inner.context_length
        self.threads = getattr(inner, "threads", 1)
        self._probs: np.ndarray | None = None

    def _forget(self, before: int) -> None:
        """Start afresh; ``before`` tokens of the prime came before the ones about to be heard."""
        raise NotImplementedError

    def _hear(self, token: int) -> None:
        raise NotImplementedError

    def _answer(self, probs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reset(self, tokens: Sequence[int] = ()) -> None:
        tokens = list(tokens)
        self.inner.reset(tokens)
        kept = tokens[-self.context_length:]
        self._forget(len(tokens) - len(kept))
        for t in kept:
            self._hear(int(t))
        self._probs = None

    def push(self, token: int) -> None:
        self.inner.push(token)  # first: a token the engine refuses is not heard
        self._hear(int(token))
        self._probs = None

    def distribution(self) -> np.ndarray:
        if self._probs is None:
            self._probs = self._answer(self.inner.distribution())
        return self._probs

    def prepare(self) -> None:
        self.inner.prepare()

    def close(self) -> None:
        self.inner.close()


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()
