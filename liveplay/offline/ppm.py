"""The variable-order baseline: PPM-C with exclusion (Moffat 1990), up to order ``order``.

Prediction by Partial Matching blends every context length from the longest one seen down to
none. At order k, with the last k tokens as context c, n(c, w) counts how often w followed c in
training, N its total and T the number of distinct w. Method C gives a seen token
n(c, w) / (N + T) and escapes to order k-1 with T / (N + T). With **exclusion**, tokens already
given probability at a higher order are left out of the counts below it (they cannot be the
reason to escape). Below order 0 every token not yet excluded shares what is left evenly, so
every distribution covers the whole vocabulary and perplexities compare with the model's. The
blend itself is ``model.longterm.ppm_c``, shared with the daemon's long-term model.

Published comparisons find such variable-order models strong on symbolic music (chords and
melody alike), often ahead of RNNs, so it is the baseline the model has to beat.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

import numpy as np

from liveplay.model.longterm import ppm_c


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
        contexts = (self.tables[k].get(tuple(int(t) for t in history[len(history) - k:]) if k else ())
                    for k in range(min(self.order, len(history)), -1, -1))
        return ppm_c((found for found in contexts if found is not None), self.vocab_size)
