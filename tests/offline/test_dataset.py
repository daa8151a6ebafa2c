"""The by-file split kept across a changed corpus, and folder weights above one."""

import numpy as np
import pytest

from liveplay.config import load_settings
from liveplay.errors import ConfigError
from liveplay.offline.dataset import Split, keep_split, weighted_copies, with_validation_min


def test_weighted_copies_take_each_window_its_weight_times_an_epoch_on_average():
    rows, chances = weighted_copies([0.5, 2.0, 2.5, 1.0, 0.0])
    assert rows.tolist() == [0, 1, 1, 2, 2, 2, 3]  # a weight of 0: never drawn
    assert chances.tolist() == [0.5, 1.0, 1.0, 1.0, 1.0, 0.5, 1.0]
    taken = np.bincount(rows, weights=chances, minlength=5)
    assert taken.tolist() == [0.5, 2.0, 2.5, 1.0, 0.0]


def test_a_folder_weight_above_one_is_read_and_one_above_four_names_the_key(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("train:\n  folder_weights: [trecento=2.5, essen=0.15]\n")
    assert load_settings(good).train.folder_weights == ("trecento=2.5", "essen=0.15")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  folder_weights: [trecento=5]\n")
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    assert any(p.startswith("train.folder_weights") and "between 0 and 4" in p for p in err.value.problems)


def test_keep_split_keeps_each_named_files_side_and_splits_only_the_new_ones():
    old = Split(["a", "b", "c", "d"], ["e"], ["f", "g"])
    names = ["a", "c", "d", "e", "g"] + [f"new{i}" for i in range(10)]  # b and f are gone
    got = keep_split(names, old, 0.2, 0.2, 1)
    assert sorted(got.train + got.validation + got.test) == sorted(names)
    assert {"a", "c", "d"} <= set(got.train) and "e" in got.validation and "g" in got.test
    new = {k: [n for n in v if n.startswith("new")] for k, v in got.as_dict().items()}
    assert len(new["validation"]) == 2 and len(new["test"]) == 2 and len(new["train"]) == 6
    few = keep_split(["a", "new0", "new1"], old, 0.2, 0.2, 1)  # fewer than three new files: all train
    assert few.train == ["a", "new0", "new1"] and few.validation == [] and few.test == []


def test_validation_min_gives_each_folder_enough_validation_files_and_moves_no_test_file():
    from liveplay.offline.dataset import split_files

    names = [f"mix/folk/{i:04d}.mid" for i in range(400)] + [f"mix/modal/{i:02d}.mid" for i in range(30)] + \
        [f"mix/tiny/{i}.mid" for i in range(3)]
    plain = split_files(names, 0.05, 0.1, 1234)
    topped = split_files(names, 0.05, 0.1, 1234, validation_min=6)

    def count(files, folder):
        return sum(f"/{folder}/" in n for n in files)

    assert topped.test == plain.test  # the held-out test files never move
    assert sorted(topped.train + topped.validation + topped.test) == sorted(names)
    assert not set(topped.train) & set(topped.validation)
    assert count(plain.validation, "modal") < 6 <= count(topped.validation, "modal")
    assert count(topped.validation, "folk") == max(6, count(plain.validation, "folk"))
    assert set(plain.validation) <= set(topped.validation)  # only training files were moved
    tiny_train = count(plain.train, "tiny")  # a folder keeps at least half of its training files
    assert count(topped.train, "tiny") >= tiny_train - tiny_train // 2 >= 1
    # a folder's draw is its own: another folder's training files change nothing of it
    more = with_validation_min(Split(plain.train + [f"mix/other/{i}.mid" for i in range(20)], plain.validation,
                                     plain.test), 6, 1234)
    assert [n for n in more.validation if "/other/" not in n] == topped.validation
    kept = keep_split(names, plain, 0.05, 0.1, 1234, validation_min=6)  # a kept split is topped up the same way
    assert kept.test == plain.test and kept.validation == topped.validation
