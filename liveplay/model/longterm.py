"""The long-term model: what the training corpus did after the last few tokens, mixed into the model.

The LSTM learns the corpus in general; a variable-order model *remembers* it: a chorale cadence
that recurs nearly note for note across harmonisations of the same tune, a fiddle tune's double
stop. On chord onsets of the Bach and O'Neill test files the order-8 PPM baseline ranked the right
chord in its top five more often than the LSTM (models/default/README.md). So, as IDyOM mixes a
long-term model of the corpus with a short-term model of the piece (``model.shortterm``), the
model's distribution is mixed with **PPM-C with exclusion** (``offline.ppm``, the same method)
over the bundle's training tokens:

    P = (1 - w) * P_model + w * P_corpus        (w = ``model.long_term``)

The counts live in the bundle as ``longterm.npz``: for each order k = 0..K, the contexts' 64-bit
hashes (sorted), and for each context the tokens that followed it and how often (CSR arrays).
A context is found with one ``searchsorted`` a order, so a step costs about 0.15 ms
(``benchmarks/engine.py``), not a walk over Python dicts; contexts of order 2 and up seen only
once are left out (``MIN_COUNT``): the shipped model's 2.2 million training tokens give 462 000
contexts, 4.9 MB compressed, 13 MB in memory. The hash of the last k tokens is a
polynomial in ``BASE`` modulo 2**64; two contexts that shared a hash would share their counts
(among the shipped model's half a million contexts the chance that any two do is about 10**-8).

**The gate.** How far to trust the corpus changes from step to step: after a chorale's first
phrase its cadence is in the counts, in a Josquin mass the counts know little. So the corpus's
share can be a logistic function of what the step shows (``Gate``, ``GATE_FEATURES``: both
distributions' entropies and top probabilities, how far they agree, how many of the last 16
tokens were chords or HOLDs), fitted on the model's validation split to the mixture's
log-likelihood, the short-term model around it as the daemon plays (``offline.gate.fit_gate``;
``liveplay longterm --gate``). It lives in the same file; ``model.long_term_gate: false`` plays
the fixed share ``model.long_term`` instead.

It sees the engine's window, as ``shortterm`` does, so an engine inside it keeps its contract.
Pure NumPy; wraps any ``Engine``. ``liveplay longterm BUNDLE`` builds the file.
"""

from __future__ import annotations

import zipfile
from collections import deque
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from liveplay.errors import BundleError
from liveplay.model.bundle import array_headers, replacing
from liveplay.model.engine import Engine, Listener
from liveplay.music.tokens import HOLD_ID

FILE = "longterm.npz"
ORDER = 8  # the longest context, as the PPM-8 baseline's
MIN_COUNT = 2  # a context of order 2 or more is kept when it was seen at least this often
BASE = 0x9E3779B97F4A7C15  # odd: the polynomial hash's base
MASK = (1 << 64) - 1
MAX_BYTES = 1 << 30  # a file declaring more is refused unread (the shipped model's tables: 13 MB)
GATE_WINDOW = 16  # tokens of the recent past the gate looks at (a bar of sixteenths)
GATE_FEATURES = ("the model's entropy", "the corpus's entropy", "the model's top probability",
                 "the corpus's top probability", "the two distributions' overlap",
                 "chords among the last 16 tokens", "HOLDs among the last 16 tokens",
                 "the model's HOLD probability", "the corpus's HOLD probability")


def _powers(order: int) -> list[int]:
    return [pow(BASE, k, 1 << 64) for k in range(order)]


def ppm_c(found: Iterable[tuple[np.ndarray, np.ndarray]], vocab_size: int) -> np.ndarray:
    """PPM-C with exclusion (Moffat 1990) over the counts after each context found, longest first:
    a token seen n times of N, among T distinct, gets n / (N + T) of what is left, T / (N + T)
    escapes to the next shorter context, which leaves out the tokens already given probability.
    Below order 0 the tokens never seen share the rest evenly; when every token was seen, the
    last escape goes back to them. Over the whole vocabulary, float64, sums to 1."""
    p = np.zeros(vocab_size)  # (V,)
    excluded = np.zeros(vocab_size, dtype=bool)  # (V,)
    mass = 1.0
    for tokens, counts in found:
        keep = ~excluded[tokens]
        if not keep.all():
            tokens, counts = tokens[keep], counts[keep]
        if len(tokens) == 0:
            continue
        total, types = float(counts.sum()), len(tokens)
        p[tokens] += mass * counts / (total + types)
        mass *= types / (total + types)
        excluded[tokens] = True
    rest = ~excluded
    if rest.any():
        p[rest] += mass / rest.sum()
    else:
        p *= 1.0 / p.sum()
    return p


def relative_entropy(p: np.ndarray) -> float:
    """Entropy as a share of the uniform distribution's (0..1)."""
    return float(-(p * np.log(np.maximum(p, 1e-300))).sum() / np.log(len(p)))


def gate_features(p_model: np.ndarray, p_corpus: np.ndarray, recent: Sequence[int], chords: np.ndarray) -> np.ndarray:
    """(F,) what the gate sees at a step (``GATE_FEATURES``); ``recent``: the tokens heard, the
    last ``GATE_WINDOW`` of them counted; ``chords``: (V,) True for the chord ids."""
    last = np.asarray(list(recent)[-GATE_WINDOW:], dtype=np.int64)
    return np.array([relative_entropy(p_model), relative_entropy(p_corpus), p_model.max(), p_corpus.max(),
                     np.minimum(p_model, p_corpus).sum(),
                     chords[last].mean() if len(last) else 0.0,
                     (last == HOLD_ID).mean() if len(last) else 0.0,
                     p_model[HOLD_ID], p_corpus[HOLD_ID]])


class Gate:
    """The corpus's share at a step: ``sigmoid(theta . ((x - mean) / scale), 1)`` of its features x."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, theta: np.ndarray):
        mean, scale, theta = (np.asarray(a, dtype=np.float64) for a in (mean, scale, theta))
        n = len(GATE_FEATURES)
        if mean.shape != (n,) or scale.shape != (n,) or theta.shape != (n + 1,):
            raise ValueError(f"a gate has {n} means and scales and {n + 1} weights")
        if not (np.isfinite(mean).all() and np.isfinite(theta).all() and np.isfinite(scale).all()
                and (scale > 0).all()):
            raise ValueError("a gate's numbers are finite and its scales positive")
        self.mean, self.scale, self.theta = mean, scale, theta

    def share(self, x: np.ndarray) -> float:
        z = float(((x - self.mean) / self.scale) @ self.theta[:-1] + self.theta[-1])
        return 1.0 / (1.0 + np.exp(-z))


class CorpusTables:
    """PPM-C counts of a corpus up to ``order``, by hashed context (module docstring), and the
    gate fitted for them, if any."""

    def __init__(self, vocab_size: int, keys: list[np.ndarray], offsets: list[np.ndarray],
                 tokens: list[np.ndarray], counts: list[np.ndarray], gate: Gate | None = None):
        self.vocab_size, self.order = vocab_size, len(keys) - 1
        self.keys, self.offsets, self.tokens, self.counts = keys, offsets, tokens, counts
        self.gate = gate
        self.powers = _powers(self.order)

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[int]], vocab_size: int, order: int = ORDER,
            min_count: int = MIN_COUNT) -> "CorpusTables":
        """Counts of every token after every context of 0..``order`` tokens within a sequence."""
        seqs = [np.asarray(s, dtype=np.int64) for s in sequences if len(s)]
        t = np.concatenate(seqs) if seqs else np.zeros(0, dtype=np.int64)
        if len(t) and (t.min() < 0 or t.max() >= vocab_size):
            raise ValueError(f"token ids outside 0..{vocab_size - 1}")
        # position of each token within its sequence: a context of k tokens needs k before it
        starts = np.repeat(np.cumsum([0] + [len(s) for s in seqs[:-1]]), [len(s) for s in seqs])
        within = np.arange(len(t)) - starts
        h = np.zeros(len(t), dtype=np.uint64)
        keys, offsets, tokens, counts = [], [], [], []
        with np.errstate(over="ignore"):
            for k in range(order + 1):
                if k:
                    older = np.zeros(len(t), dtype=np.uint64)
                    older[k:] = (t[:-k] + 1).astype(np.uint64)
                    h = h + older * np.uint64(pow(BASE, k - 1, 1 << 64))
                at = within >= k
                ctx, nxt = h[at], t[at]
                order_ = np.lexsort((nxt, ctx))
                ctx, nxt = ctx[order_], nxt[order_]
                pair = np.ones(len(ctx), dtype=bool)
                pair[1:] = (ctx[1:] != ctx[:-1]) | (nxt[1:] != nxt[:-1])
                first = np.flatnonzero(pair)
                pc, pn = ctx[first], nxt[first]
                pcount = np.diff(np.append(first, len(ctx)))
                new = np.ones(len(pc), dtype=bool)
                new[1:] = pc[1:] != pc[:-1]
                cstart = np.flatnonzero(new)
                total = np.add.reduceat(pcount, cstart) if len(cstart) else np.zeros(0, dtype=np.int64)
                if k >= 2 and min_count > 1:  # rare long contexts: most of the table, little of the answer
                    keep_ctx = total >= min_count
                    keep_pair = np.repeat(keep_ctx, np.diff(np.append(cstart, len(pc))))
                    pc, pn, pcount = pc[keep_pair], pn[keep_pair], pcount[keep_pair]
                    new = np.ones(len(pc), dtype=bool)
                    new[1:] = pc[1:] != pc[:-1]
                    cstart = np.flatnonzero(new)
                keys.append(pc[cstart])
                offsets.append(np.append(cstart, len(pc)).astype(np.int64))
                tokens.append(pn.astype(np.uint16 if vocab_size <= 1 << 16 else np.uint32))
                counts.append(pcount.astype(np.uint32))
        return cls(vocab_size, keys, offsets, tokens, counts)

    # -- the answer ----------------------------------------------------------------------------

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        """P(next | the last ``order`` tokens of history) by PPM-C with exclusion, over the whole
        vocabulary (``ppm_c``, as offline.ppm's baseline, on these counts)."""
        return ppm_c(((tokens, counts) for _, tokens, counts in self.found(history)), self.vocab_size)

    def found(self, history: Sequence[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(order, tokens, counts) after each context of the history found in the tables, longest first."""
        longest = min(self.order, len(history))
        hashes, h = [0], 0
        for k in range(1, longest + 1):
            h = (h + (int(history[-k]) + 1) * self.powers[k - 1]) & MASK
            hashes.append(h)
        for k in range(longest, -1, -1):
            keys = self.keys[k]
            i = int(np.searchsorted(keys, np.uint64(hashes[k])))
            if i < len(keys) and int(keys[i]) == hashes[k]:
                lo, hi = self.offsets[k][i], self.offsets[k][i + 1]
                yield k, self.tokens[k][lo:hi], self.counts[k][lo:hi]

    # -- the file ------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Compressed (the counts and tokens are mostly small and repeated: a third of the size);
        written beside its place and renamed over it."""
        arrays = {"vocab_size": np.array([self.vocab_size], dtype=np.int64)}
        for k in range(self.order + 1):
            offsets = self.offsets[k].astype(np.uint32 if self.offsets[k][-1] < 1 << 32 else np.int64)
            arrays |= {f"keys{k}": self.keys[k], f"offsets{k}": offsets, f"tokens{k}": self.tokens[k],
                       f"counts{k}": self.counts[k]}
        if self.gate is not None:
            arrays |= {"gate_mean": self.gate.mean, "gate_scale": self.gate.scale, "gate_theta": self.gate.theta}
        with replacing(Path(path)) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path: Path, vocab_size: int) -> "CorpusTables":
        """The bundle's tables, every array checked; BundleError names the file. Never unpickles."""
        path = Path(path)
        try:
            declared = sum(int(np.prod(shape)) * dtype.itemsize for shape, dtype, _ in array_headers(path).values())
            if declared > MAX_BYTES:  # refused before anything is allocated
                raise BundleError(path, f"declares {declared} bytes of arrays: long-term tables are at most {MAX_BYTES}")
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except FileNotFoundError as err:
            raise BundleError(path, "missing: build it with `liveplay longterm BUNDLE`") from err
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
            raise BundleError(path, f"not a readable .npz file: {err}") from err
        try:
            return cls._checked(arrays, vocab_size)
        except (KeyError, ValueError) as err:
            raise BundleError(path, f"not the long-term tables of this model: {err}") from err

    @classmethod
    def _checked(cls, arrays: dict[str, np.ndarray], vocab_size: int) -> "CorpusTables":
        if int(arrays["vocab_size"][0]) != vocab_size:
            raise ValueError(f"counted over {int(arrays['vocab_size'][0])} tokens, the model has {vocab_size}")
        order = sum(1 for name in arrays if name.startswith("keys")) - 1
        if order < 0:
            raise ValueError("no tables")
        keys, offsets, tokens, counts = [], [], [], []
        for k in range(order + 1):
            key, off, tok, cnt = (arrays[f"{n}{k}"] for n in ("keys", "offsets", "tokens", "counts"))
            if key.dtype != np.uint64 or key.ndim != 1 or (len(key) > 1 and not (np.diff(key) > 0).all()):
                raise ValueError(f"keys{k}: not sorted unique 64-bit hashes")
            off = off.astype(np.int64)
            if off.ndim != 1 or len(off) != len(key) + 1 or off[0] != 0 or off[-1] != len(tok) \
                    or (len(off) > 1 and not (np.diff(off) > 0).all()):
                raise ValueError(f"offsets{k}: do not index tokens{k}")
            if tok.dtype.kind != "u" or len(tok) != len(cnt) or (len(tok) and int(tok.max()) >= vocab_size):
                raise ValueError(f"tokens{k}: not token ids of the model, or not one count each")
            if cnt.dtype.kind != "u" or (len(cnt) and int(cnt.min()) == 0):
                raise ValueError(f"counts{k}: not positive counts")
            keys.append(key), offsets.append(off), tokens.append(tok), counts.append(cnt)
        gate = None
        if any(name.startswith("gate_") for name in arrays):
            try:
                gate = Gate(arrays["gate_mean"], arrays["gate_scale"], arrays["gate_theta"])
            except ValueError as err:
                raise ValueError(f"gate: {err}") from err
        return cls(vocab_size, keys, offsets, tokens, counts, gate)


class LongTermEngine(Listener):
    """``Engine`` contract: ``inner``'s distribution mixed with the corpus's PPM (module docstring):
    the corpus's share is ``weight``, or, given a ``gate`` and the ``chords`` (V,) it counts, the
    gate's at each step."""

    def __init__(self, inner: Engine, tables: CorpusTables, weight: float, gate: Gate | None = None,
                 chords: np.ndarray | None = None):
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"long-term weight {weight} outside [0, 1)")
        if tables.vocab_size != inner.vocab_size:
            raise ValueError(f"long-term tables over {tables.vocab_size} tokens, the engine's {inner.vocab_size}")
        if gate is not None and (chords is None or len(chords) != inner.vocab_size):
            raise ValueError("a gated long-term model needs the chord ids of the engine's vocabulary")
        super().__init__(inner, f"{inner.name} + long-term {'gated' if gate is not None else f'{weight:g}'}")
        self.tables, self.weight, self.gate = tables, float(weight), gate
        self.chords = None if chords is None else np.asarray(chords, dtype=bool)
        self.recent: deque[int] = deque(maxlen=max(tables.order, GATE_WINDOW, 1))

    def _forget(self, before: int) -> None:
        self.recent.clear()

    def _hear(self, token: int) -> None:
        self.recent.append(token)

    def parts(self) -> tuple[np.ndarray, np.ndarray, float]:
        """This step's model distribution, the corpus's, and the corpus's share of the mix."""
        return self._parts(self.inner.distribution())

    def _parts(self, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        recent = list(self.recent)
        q = self.tables.distribution(recent)  # its last ``order`` tokens
        if self.gate is None:
            return probs, q, self.weight
        return probs, q, self.gate.share(gate_features(probs, q, recent, self.chords))

    def _answer(self, probs: np.ndarray) -> np.ndarray:
        probs, q, share = self._parts(probs)
        return (1.0 - share) * probs + share * q
