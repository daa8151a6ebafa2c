"""The model's context: the music so far as token ids, starting with REST, feeding an engine.

**Contexts start with REST.** Every training file's token sequence gets a REST in front
(``with_start``), and the live and offline contexts start from ``[REST]``: "silence before
the music" is what the model saw at a zero state, and an empty context is never fed to it.

A ``Context`` keeps the last ``keep`` ids (at least the engine's window, and enough for the
sampler's repetition test) and mirrors every change into its engine, so what the engine
answers is always the distribution after exactly these tokens. Beside each id it keeps whose it
was (``theirs``): the player's (a prime, the musician's notes folded in) or ours (what we
played, and the starting REST); the key keeper (``model.inkey``) listens to the player's. A duet
model's context interleaves both parts by position, and nothing reads its marks. Used by the
live performance, generation, evaluation (through ``with_start``) and training alike.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable, Protocol, Sequence

import numpy as np

from liveplay.music.tokens import REST_ID

MIN_KEEP = 64  # ids kept for the sampler's tail and the state line, even with a short window


def with_start(ids: Iterable[int]) -> list[int]:
    """A token id sequence as the model sees it: a REST first (the context's start)."""
    return [REST_ID, *ids]


class Feed(Protocol):
    """What a context needs of an engine (model.engine.Engine gives it)."""

    context_length: int

    def reset(self, tokens: Sequence[int] = ()) -> None: ...

    def push(self, token: int) -> None: ...

    def distribution(self) -> np.ndarray: ...


class Context:
    """The rolling context of one performance or generation; ``engine`` answers for it."""

    def __init__(self, engine: Feed, prime: Sequence[int] = ()):
        self.engine = engine
        keep = max(engine.context_length, MIN_KEEP)
        self.ids: deque[int] = deque(maxlen=keep)
        self.theirs: deque[bool] = deque(maxlen=keep)
        self.reset(prime)

    def reset(self, prime: Sequence[int] = ()) -> None:
        """Start afresh from silence, then ``prime`` (ids, no REST of their own: the player's)."""
        start = with_start(prime)
        self.ids.clear()
        self.ids.extend(start)
        self.theirs.clear()
        self.theirs.extend([False] + [True] * (len(start) - 1))
        self.engine.reset(list(self.ids))

    def push(self, token_id: int, theirs: bool = False) -> None:
        """The next step's id; ``theirs``: the player played it (else it is ours)."""
        self.engine.push(token_id)  # first: a token the engine refuses does not enter the context
        self.ids.append(token_id)
        self.theirs.append(bool(theirs))

    def window(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The last ``steps`` ids (at most as many as kept) and whether each was the player's."""
        n = min(steps, len(self.ids))
        ids = np.fromiter(self.ids, dtype=np.int64, count=len(self.ids))[len(self.ids) - n:]
        theirs = np.fromiter(self.theirs, dtype=bool, count=len(self.theirs))[len(self.theirs) - n:]
        return ids, theirs

    def distribution(self) -> np.ndarray:
        """P(next token | this context), from the engine."""
        return self.engine.distribution()

    def prepare(self) -> None:
        """Let the engine do the next push's token-free half now (``Engine.prepare``), if it can."""
        prepare = getattr(self.engine, "prepare", None)
        if prepare is not None:
            prepare()

    def tail(self, n: int) -> list[int]:
        return list(self.ids)[-n:]

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self):
        return iter(self.ids)
