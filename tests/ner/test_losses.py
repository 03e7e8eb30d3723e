import math

import numpy
import pytest

from spacy_xproj.ner.losses import focal_loss, make_cross_entropy, make_focal_loss, make_reverse_focal_loss, reverse_focal_loss, softmax

LOGITS = numpy.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0], [1.0, 1.0, 1.0]])
GOLD = numpy.array([0, 1, 2])
MASK = numpy.array([1, 1, 0])


def test_hand_computed_values():
    p = softmax(LOGITS)
    p0, p1 = p[0, 0], p[1, 1]
    # by hand: softmax([2, .5, -1])[0] = e^2 / (e^2 + e^.5 + e^-1)
    assert p0 == pytest.approx(math.exp(2) / (math.exp(2) + math.exp(0.5) + math.exp(-1)))
    ce, _ = make_cross_entropy()(LOGITS, GOLD, MASK)
    assert ce == pytest.approx(-math.log(p0) - math.log(p1))  # the masked third row does not count
    rf, _ = reverse_focal_loss(LOGITS, GOLD, MASK, 2.0)
    assert rf == pytest.approx(-(p0**2) * math.log(p0) - (p1**2) * math.log(p1))
    fl, _ = focal_loss(LOGITS, GOLD, MASK, 2.0)
    assert fl == pytest.approx(-((1 - p0) ** 2) * math.log(p0) - ((1 - p1) ** 2) * math.log(p1))
    # the confident correct row (p0 = 0.79) weighs more under reverse focal, the contradicted one (p1 = 0.05) less
    assert p0 ** 2 > (1 - p0) ** 2 and p1 ** 2 < (1 - p1) ** 2


@pytest.mark.parametrize("loss", [lambda l, g, m: reverse_focal_loss(l, g, m, 0.0), lambda l, g, m: focal_loss(l, g, m, 0.0)])
def test_gamma_zero_is_cross_entropy(loss):
    value, grad = loss(LOGITS, GOLD, MASK)
    ce, ce_grad = make_cross_entropy()(LOGITS, GOLD, MASK)
    assert value == pytest.approx(ce)
    numpy.testing.assert_allclose(grad, ce_grad, atol=1e-12)
    # cross-entropy's gradient is p - onehot on annotated rows, zero on masked ones
    expected = softmax(LOGITS) - numpy.eye(3)[GOLD]
    expected[2] = 0
    numpy.testing.assert_allclose(ce_grad, expected, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.0])
def test_reverse_focal_gradient_is_cross_entropy_scaled_by_the_gold_probability(gamma):
    _, grad = reverse_focal_loss(LOGITS, GOLD, MASK, gamma)
    _, ce_grad = make_cross_entropy()(LOGITS, GOLD, MASK)
    p_gold = softmax(LOGITS)[numpy.arange(3), GOLD]
    numpy.testing.assert_allclose(grad, ce_grad * (p_gold**gamma)[:, None], atol=1e-12)
    # it always points where cross-entropy does: raising the gold logit lowers the loss
    assert (grad[[0, 1], GOLD[:2]] < 0).all()


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("loss", [focal_loss])
def test_gradients_match_finite_differences(loss, gamma):
    rng = numpy.random.default_rng(0)
    logits = rng.normal(size=(5, 4))
    gold = rng.integers(0, 4, size=5)
    mask = numpy.array([1, 1, 0, 1, 1])
    _, grad = loss(logits, gold, mask, gamma)
    step = 1e-6
    numeric = numpy.zeros_like(logits)
    for i in range(5):
        for k in range(4):
            plus, minus = logits.copy(), logits.copy()
            plus[i, k] += step
            minus[i, k] -= step
            numeric[i, k] = (loss(plus, gold, mask, gamma)[0] - loss(minus, gold, mask, gamma)[0]) / (2 * step)
    numpy.testing.assert_allclose(grad, numeric, atol=1e-6)


def test_registered_losses_check_their_arguments():
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        make_reverse_focal_loss(-1.0)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        make_focal_loss(-0.5)
    with pytest.raises(ValueError, match="expected logits"):
        make_focal_loss(2.0)(LOGITS, GOLD[:2], MASK)
    value, grad = make_reverse_focal_loss(1.0)(numpy.zeros((0, 3)), numpy.zeros(0, dtype=int), numpy.zeros(0))
    assert value == 0.0 and grad.shape == (0, 3)


def test_per_class_reverse_focal_keeps_each_class_total_and_trusts_the_agreed_token_more():
    from spacy_xproj.ner.losses import make_reverse_focal_loss_per_class

    # rows 0-2 have gold class 0 (row 2 contradicted by the model), row 3 class 1, row 4 class 0 but unannotated
    logits = numpy.array([[3.0, 0.0], [2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [5.0, 0.0]])
    gold = numpy.array([0, 0, 0, 1, 0])
    mask = numpy.array([1, 1, 1, 1, 0])
    p = softmax(logits)[numpy.arange(5), gold]
    value, grad = make_reverse_focal_loss_per_class(1.0)(logits, gold, mask)
    class0 = p[:3] / p[:3].mean()  # by hand: weights p divided by their class mean
    assert value == pytest.approx(float(-(class0 * numpy.log(p[:3])).sum() - numpy.log(p[3])))
    _, ce_grad = make_cross_entropy()(logits, gold, mask)
    weights = numpy.r_[class0, 1.0, 0.0]
    numpy.testing.assert_allclose(grad, ce_grad * weights[:, None], atol=1e-12)
    assert class0.sum() == pytest.approx(3.0) and class0[2] < 0.2 < 1.0 < class0[0]
    # gamma 0 is cross-entropy here too
    numpy.testing.assert_allclose(make_reverse_focal_loss_per_class(0.0)(logits, gold, mask)[1], ce_grad, atol=1e-12)
