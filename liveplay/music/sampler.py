"""Temperature sampling with repetition-triggered heating. Pure and seeded.

Temperature rescales log-probabilities: p_T = p ** (1/T) / sum(p ** (1/T)); T = 1
leaves p as it is, T < 1 sharpens, T > 1 flattens. (The seed recipe divided p by
T and renormalised, which changes nothing.)

Heating: before each draw, if the last n tokens equal the n before them for any
n in ``repeat_lengths`` the temperature is multiplied by ``heat``, else by
``cool``; it stays within [min_temperature, max_temperature].
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from liveplay.config import SamplerSettings


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """p ** (1/T), renormalised, computed in log space (float64)."""
    p = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logp = np.log(p) / temperature  # (V,)
    logp -= logp.max()
    out = np.exp(logp)
    return out / out.sum()


def is_repeating(tail: Sequence[int], lengths: Sequence[int]) -> bool:
    """True when the last n tokens repeat the n before them, for some n in ``lengths``."""
    for n in lengths:
        if len(tail) >= 2 * n and list(tail[-n:]) == list(tail[-2 * n:-n]):
            return True
    return False


def next_temperature(temperature: float, tail: Sequence[int], s: SamplerSettings) -> float:
    factor = s.heat if is_repeating(tail, s.repeat_lengths) else s.cool
    return float(min(s.max_temperature, max(s.min_temperature, temperature * factor)))


class Sampler:
    """Draws the next token; holds the current temperature and the random generator."""

    def __init__(self, settings: SamplerSettings, seed: int | None = None,
                 temperature: float | None = None):
        self.settings = settings
        self.seed = seed if seed is not None else settings.seed
        self.rng = np.random.default_rng(self.seed)
        self.temperature = float(temperature if temperature is not None else settings.temperature)
        self._tail_len = 2 * max(settings.repeat_lengths, default=1)

    def configure(self, settings: SamplerSettings) -> None:
        """New settings (a config reload): the temperature restarts only if its setting changed."""
        old, self.settings = self.settings, settings
        self._tail_len = 2 * max(settings.repeat_lengths, default=1)
        if settings.temperature != old.temperature:
            self.temperature = settings.temperature
        self.set_temperature(self.temperature)  # within the new clamp

    def set_temperature(self, temperature: float) -> None:
        s = self.settings
        self.temperature = float(min(s.max_temperature, max(s.min_temperature, temperature)))

    def sample(self, probs: np.ndarray, history: Sequence[int]) -> int:
        """Heat or cool on ``history``'s tail, then draw one token id from ``probs``."""
        tail = list(history)[-self._tail_len:]  # history may be a deque
        self.temperature = next_temperature(self.temperature, tail, self.settings)
        p = apply_temperature(probs, self.temperature)
        cdf = np.cumsum(p)
        index = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"))
        return min(index, len(p) - 1)
