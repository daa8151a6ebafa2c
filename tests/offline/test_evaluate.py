import random

import numpy as np

from liveplay.offline.baselines import NGram
from liveplay.offline.evaluate import corpus_index, longest_copy


def brute_longest_copy(generated, corpus):
    best = 0
    for seq in corpus:
        for i in range(len(generated)):
            for j in range(len(seq)):
                n = 0
                while i + n < len(generated) and j + n < len(seq) and generated[i + n] == seq[j + n]:
                    n += 1
                best = max(best, n)
    return best


def test_longest_copy_matches_brute_force_and_never_spans_two_sequences():
    rng = random.Random(0)
    index_corpus = [[rng.randrange(4) for _ in range(rng.randint(1, 30))] for _ in range(6)]
    index = corpus_index(index_corpus)
    for _ in range(40):
        generated = [rng.randrange(4) for _ in range(rng.randint(0, 25))]
        assert longest_copy(generated, index) == brute_longest_copy(generated, index_corpus)
    # [1, 2] ends one sequence and [3] starts the next: no run of 3 across the join
    assert longest_copy([1, 2, 3], corpus_index([[0, 1, 2], [3, 0]])) == 2


def test_ngram_distributions_sum_to_one():
    seqs = [[0, 2, 3, 2, 3, 1, 1, 2], [2, 3, 4]]
    for order in (1, 2, 3, 4):
        model = NGram(order, 6).fit(seqs)
        for history in ([], [2], [2, 3], [5, 5, 5]):
            p = model.distribution(history)
            assert abs(p.sum() - 1) < 1e-12 and (p > 0).all()
