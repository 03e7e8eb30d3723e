import pytest

from spacy_xproj.core.thresholds import confidence_threshold_error


@pytest.mark.parametrize("value, may_be_off, usable", [
    (0.5, False, True), (1.0, False, True), (0.0, True, True), (0.7, True, True),
    (0.0, False, False), (0.49, True, False), (1.01, True, False), (-0.1, True, False),
])
def test_confidence_threshold_range(value, may_be_off, usable):
    problem = confidence_threshold_error(value, may_be_off)
    assert (problem is None) == usable
    if not usable:
        assert problem.startswith(f"{value} is ") and "0.5<=x<=1" in problem and ("0 (off)" in problem) == may_be_off
