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


def test_ppm_c_with_exclusion_by_hand():
    from liveplay.offline.ppm import PPM

    p = PPM(1, 3).fit([[0, 1, 0, 1]]).distribution([0])
    # order 1 after 0: only 1 was seen (2 times, 1 type) -> 2/3, escape 1/3; order 0 without the
    # excluded 1: token 0 (2 times) -> 1/3 * 2/3, escape 1/3 * 1/3 to the unseen token 2
    assert np.allclose(p, [2 / 9, 6 / 9, 1 / 9])


def test_ppm_sums_to_one_and_uses_long_contexts_an_ngram_cannot():
    from liveplay.offline.ppm import PPM

    rng = random.Random(1)
    # the token after a run depends on the token 6 steps back: only a long context sees it
    seqs = []
    for _ in range(200):
        head = rng.randrange(2, 6)
        seqs.append([head, 1, 1, 1, 1, 1, 10 + head])
    ppm, four = PPM(8, 16).fit(seqs), NGram(4, 16).fit(seqs)
    for history in ([], [3], [3, 1, 1], [5, 1, 1, 1, 1, 1], [15, 15, 15, 15, 15, 15, 15, 15, 15]):
        p = ppm.distribution(history)
        assert abs(p.sum() - 1) < 1e-12 and (p > 0).all()
    assert ppm.distribution([4, 1, 1, 1, 1, 1])[14] > 0.9
    assert four.distribution([4, 1, 1, 1, 1, 1])[14] < 0.5


def test_baselines_fit_the_copies_the_model_trained_on(tiny_model):
    """augment: all -> every transposed copy; random -> the files in their own keys."""
    from dataclasses import replace

    from liveplay.model.bundle import load_bundle
    from liveplay.offline.evaluate import baseline_transpositions

    b = load_bundle(tiny_model, weights=False)
    assert b.manifest.training.settings["augment"] == "all"
    assert baseline_transpositions(b) == (-1, 1)
    t = b.manifest.training
    random_keys = replace(b, manifest=replace(b.manifest, training=replace(
        t, settings={**t.settings, "augment": "random"})))
    assert baseline_transpositions(random_keys) == ()


def test_at_most_takes_the_same_evenly_spaced_files_of_each_collection():
    from liveplay.offline.evaluate import at_most

    pieces = [(f"data/folk/{i:03d}.mid", [i]) for i in range(100)] + [("data/bach/a.mid", [0]), ("data/bach/b.mid", [1])]
    chosen = at_most(list(reversed(pieces)), 5)
    names = [n for n, _ in chosen]
    assert names == ["data/bach/a.mid", "data/bach/b.mid"] + [f"data/folk/{i:03d}.mid" for i in (0, 25, 50, 74, 99)]
    assert at_most(pieces, 5) == chosen  # the order given does not change the choice
