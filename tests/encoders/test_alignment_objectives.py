import math

import numpy
import pytest
import torch

from spacy_xproj.encoders.alignment_objectives import (
    PairBatch,
    alignment_logits,
    contrastive_loss,
    self_training_loss,
)

TEMPERATURE, DISTORTION, THRESHOLD = 0.1, 0.3, 0.45


def padded_batch(pairs):
    """PairBatch from a list of (source [m, H], target [n, H]) arrays, padded with random junk."""
    rng = numpy.random.default_rng(1)
    hidden = pairs[0][0].shape[1]
    m, n = max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)
    source = rng.normal(size=(len(pairs), m, hidden)) * 50
    target = rng.normal(size=(len(pairs), n, hidden)) * 50
    source_mask = numpy.zeros((len(pairs), m), dtype=bool)
    target_mask = numpy.zeros((len(pairs), n), dtype=bool)
    for b, (s, t) in enumerate(pairs):
        source[b, : len(s)], target[b, : len(t)] = s, t
        source_mask[b, : len(s)], target_mask[b, : len(t)] = True, True
    return PairBatch(torch.tensor(source, dtype=torch.float32), torch.tensor(source_mask), torch.tensor(target, dtype=torch.float32), torch.tensor(target_mask))


def reference_logits(source, target):
    """The formula of the module doc, written out with loops."""
    def centred_unit(x):
        x = x - x.mean(axis=0)
        return x / numpy.linalg.norm(x, axis=1, keepdims=True)

    s, t = centred_unit(source), centred_unit(target)
    m, n = len(s), len(t)
    return numpy.array([[(s[i] @ t[j] - DISTORTION * (i / m - j / n) ** 2) / TEMPERATURE for j in range(n)] for i in range(m)])


def softmax(x, axis):
    e = numpy.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def noisy_translation(rng, m, hidden=8, noise=0.3, reorder=None):
    source = rng.normal(size=(m, hidden))
    order = reorder if reorder is not None else numpy.arange(m)
    return source, source[order] + noise * rng.normal(size=(m, hidden))


def test_logits_match_the_formula_and_ignore_padding():
    rng = numpy.random.default_rng(0)
    short = (rng.normal(size=(3, 8)), rng.normal(size=(2, 8)))
    long = (rng.normal(size=(5, 8)), rng.normal(size=(6, 8)))
    logits = alignment_logits(padded_batch([short, long]), TEMPERATURE, DISTORTION)
    numpy.testing.assert_allclose(logits[0, :3, :2].numpy(), reference_logits(*short), rtol=1e-5, atol=1e-5)
    numpy.testing.assert_allclose(logits[1].numpy(), reference_logits(*long), rtol=1e-5, atol=1e-5)
    assert (logits[0, 3:] < -1e8).all() and (logits[0, :, 2:] < -1e8).all()


def test_self_training_loss_is_minus_the_guided_probability_mass():
    rng = numpy.random.default_rng(0)
    pair = noisy_translation(rng, 4, reorder=numpy.array([1, 0, 2, 3]))
    logits = reference_logits(*pair)
    forward, backward = softmax(logits, 1), softmax(logits, 0)
    guide = (forward > THRESHOLD) & (backward > THRESHOLD)
    assert guide.sum() == 4 and guide[0, 1] and guide[1, 0]  # the swapped words are found
    expected = -((guide * forward).sum() / 4 + (guide * backward).sum() / 4)
    result = self_training_loss(padded_batch([pair]), TEMPERATURE, DISTORTION, THRESHOLD)
    assert float(result["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(result["links"]) == 4


def test_self_training_loss_per_pair_does_not_depend_on_its_batch():
    rng = numpy.random.default_rng(0)
    a, b = noisy_translation(rng, 3), noisy_translation(rng, 7)
    alone_a = float(self_training_loss(padded_batch([a]), TEMPERATURE, DISTORTION, THRESHOLD)["loss"])
    alone_b = float(self_training_loss(padded_batch([b]), TEMPERATURE, DISTORTION, THRESHOLD)["loss"])
    together = float(self_training_loss(padded_batch([a, b]), TEMPERATURE, DISTORTION, THRESHOLD)["loss"])
    assert together == pytest.approx((alone_a + alone_b) / 2, rel=1e-5)


def test_contrastive_loss_is_cross_entropy_over_every_subword_of_the_batch():
    rng = numpy.random.default_rng(0)
    pairs = [noisy_translation(rng, 3), noisy_translation(rng, 2)]
    result = contrastive_loss(padded_batch(pairs), TEMPERATURE, DISTORTION, THRESHOLD)

    def centred_unit(x):
        x = x - x.mean(axis=0)
        return x / numpy.linalg.norm(x, axis=1, keepdims=True)

    sources = numpy.concatenate([centred_unit(s) for s, _ in pairs])
    targets = numpy.concatenate([centred_unit(t) for _, t in pairs])
    links = []  # (row in sources, row in targets) of each guide link
    offset_s = offset_t = 0
    for s, t in pairs:
        logits = reference_logits(s, t)
        guide = (softmax(logits, 1) > THRESHOLD) & (softmax(logits, 0) > THRESHOLD)
        links += [(offset_s + i, offset_t + j) for i, j in zip(*numpy.nonzero(guide))]
        offset_s, offset_t = offset_s + len(s), offset_t + len(t)
    assert len(links) == 5

    def cross_entropy(queries, keys, positives):
        scores = queries @ keys.T / TEMPERATURE
        log_p = scores - numpy.log(numpy.exp(scores).sum(axis=1, keepdims=True))
        return -log_p[numpy.arange(len(positives)), positives].mean()

    rows, cols = numpy.array([i for i, _ in links]), numpy.array([j for _, j in links])
    expected = (cross_entropy(sources[rows], targets, cols) + cross_entropy(targets[cols], sources, rows)) / 2
    assert float(result["loss"]) == pytest.approx(expected, rel=1e-4)


def test_contrastive_loss_without_confident_links_is_zero_with_a_graph():
    batch = padded_batch([(numpy.ones((2, 4)), numpy.ones((2, 4)))])  # centred vectors are all zero: flat probabilities
    batch.source.requires_grad_(True)
    result = contrastive_loss(batch, TEMPERATURE, DISTORTION, 0.9)
    result["loss"].backward()
    assert float(result["loss"].detach()) == 0.0 and float(result["links"]) == 0.0
    assert batch.source.grad is not None  # backward() reached the vectors
    assert torch.equal(batch.source.grad, torch.zeros_like(batch.source))  # finite, and no signal


@pytest.mark.parametrize("objective", [self_training_loss, contrastive_loss])
def test_gradient_steps_on_the_vectors_lower_the_objective(objective):
    rng = numpy.random.default_rng(0)
    pairs = [noisy_translation(rng, 5, noise=0.8), noisy_translation(rng, 4, noise=0.8)]
    batch = padded_batch(pairs)
    source, target = batch.source.clone().requires_grad_(True), batch.target.clone().requires_grad_(True)
    optimizer = torch.optim.SGD([source, target], lr=0.05)
    losses = []
    for _ in range(20):
        result = objective(PairBatch(source, batch.source_mask, target, batch.target_mask), TEMPERATURE, DISTORTION, THRESHOLD)
        losses.append(result["loss"].item())
        optimizer.zero_grad()
        result["loss"].backward()
        optimizer.step()
    assert math.isfinite(losses[-1]) and losses[-1] < losses[0] - 0.05
