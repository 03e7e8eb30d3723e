"""The long-pairs benchmark's bookkeeping: joined pairs keep their gold links on the same words."""
from benchmarks.long_pairs import joined_pairs, render_long_pairs_table


def test_joined_pairs_shift_gold_links_by_the_words_before_them():
    pairs = [(["a", "b"], ["x"]), (["c"], ["y", "z"]), (["d"], ["w"])]
    sure = [{(0, 0)}, {(0, 1)}, {(0, 0)}]
    possible = [{(0, 0), (1, 0)}, {(0, 1), (0, 0)}, {(0, 0)}]
    joined, joined_sure, joined_possible = joined_pairs(pairs, sure, possible, 2)
    assert joined == [(["a", "b", "c"], ["x", "y", "z"]), (["d"], ["w"])]
    assert joined_sure == [{(0, 0), (2, 2)}, {(0, 0)}]
    assert joined_possible == [{(0, 0), (1, 0), (2, 2), (2, 1)}, {(0, 0)}]


def test_table_names_the_group_size():
    data = {"setup": {"group": 25}, "rows": {"enfr/joined, no band": {"aer": 0.256, "precision": 0.9, "recall": 0.61, "lines": 18,
                                                                     "mean_source_words": 377.1, "links": 1528}}}
    assert "| enfr | 25 pairs joined, no band | 18 | 377.1 | 25.6 | 90.0 | 61.0 | 1528 |" in render_long_pairs_table(data)
