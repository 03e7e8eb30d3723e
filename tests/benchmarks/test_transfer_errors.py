"""The error counts of benchmarks/transfer_errors.py."""


def test_transfer_error_counts_sort_each_wrong_prediction():
    from benchmarks import transfer_errors as module

    words = [["(", "EFE", ")", "el", "Mérida", "ganó", "en", "Madrid", "español"]]
    gold = [{(1, 2, "ORG"), (4, 5, "ORG"), (7, 8, "LOC")}]
    predicted = [{(4, 5, "LOC"), (6, 8, "LOC"), (8, 9, "MISC")}]  # EFE missed, club as LOC, a boundary error, a spurious adjective
    counts = module.error_counts(words, gold, predicted, {"EFE"})
    assert (counts["watch_missed"], counts["org_as_loc"], counts["spurious_misc"], counts["boundary"]) == (1, 1, 1, 1)
    assert counts["f"] == 0.0 and counts["f_without_lowercase_words"] == 0.0
    right = [{(1, 2, "ORG"), (4, 5, "ORG"), (7, 8, "LOC"), (8, 9, "MISC")}]
    counts = module.error_counts(words, gold, right, {"EFE"})
    assert counts["spurious_misc"] == 1 and counts["f_without_lowercase_words"] == 100.0 > counts["f"]
