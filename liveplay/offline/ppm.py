"""The variable-order baseline: PPM-C with exclusion (Moffat 1990), up to order ``order``.

Prediction by Partial Matching blends every context length from the longest one seen down to
none. At order k, with the last k tokens as context c, n(c, w) counts how often w followed c in
training, N its total and T the number of distinct w. Method C gives a seen token
n(c, w) / (N + T) and escapes to order k-1 with T / (N + T). With **exclusion**, tokens already
given probability at a higher order are left out of the counts below it (they cannot be the
reason to escape). Below order 0 every token not yet excluded shares what is left evenly, so
every distribution covers the whole vocabulary and perplexities compare with the model's.

Published comparisons find such variable-order models strong on symbolic music (chords and
melody alike), often ahead of RNNs, so it is the baseline the model has to beat.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

import numpy as np


class PPM:
    def __init__(self, order: int, vocab_size: int):
        if order < 0:
            raise ValueError("order must be at least 0")
        self.order = order
        self.vocab_size = vocab_size
        # tables[k][context of k tokens] -> (next tokens, their counts) as arrays, k = 0..order
        self.tables: list[dict[tuple, tuple[np.ndarray, np.ndarray]]] = []

    def fit(self, sequences: Sequence[Sequence[int]]) -> "PPM":
        counts: list[dict[tuple, Counter]] = [defaultdict(Counter) for _ in range(self.order + 1)]
        for seq in sequences:
            seq = [int(t) for t in seq]
            for i, w in enumerate(seq):
                for k in range(min(i, self.order) + 1):
                    counts[k][tuple(seq[i - k: i])][w] += 1
        self.tables = [{ctx: (np.fromiter(c.keys(), dtype=np.int64), np.fromiter(c.values(), dtype=np.float64))
                        for ctx, c in table.items()} for table in counts]
        return self

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        """P(next | history) over the whole vocabulary (float64, sums to 1)."""
        p = np.zeros(self.vocab_size)  # (V,)
        excluded = np.zeros(self.vocab_size, dtype=bool)  # (V,)
        mass = 1.0
        for k in range(min(self.order, len(history)), -1, -1):
            found = self.tables[k].get(tuple(int(t) for t in history[len(history) - k:]) if k else ())
            if found is None:
                continue
            tokens, counts = found
            keep = ~excluded[tokens]
            tokens, counts = tokens[keep], counts[keep]
            if len(tokens) == 0:
                continue
            total, types = counts.sum(), len(tokens)
            p[tokens] += mass * counts / (total + types)
            mass *= types / (total + types)
            excluded[tokens] = True
        rest = ~excluded
        if rest.any():
            p[rest] += mass / rest.sum()
        else:
            p *= 1.0 / p.sum()  # every token was seen: the last escape mass goes back to them
        return p
