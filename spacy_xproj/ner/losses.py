"""Token classification losses on softmax outputs, with their gradients with respect to the logits.

With p the model's probability of the gold class and g >= 0:

- cross-entropy:  -log p
- focal loss (Lin et al. 2017):  -(1 - p)^g log p   (hard tokens count more)
- reverse focal loss (after Li, He & Xu 2021, for noisy projected labels):  -p^g log p
  (tokens whose label the model confidently contradicts count less: on projected data these are
  often wrong labels)

g = 0 gives cross-entropy for both. Gradients with respect to logits z use dp/dz_k = p (1[k = y] - p_k):

- focal, weight differentiated as in Lin et al.:
  dL/dz_k = (g p (1 - p)^(g-1) log p - (1 - p)^g) (1[k = y] - p_k)
- reverse focal, weight p^g held constant: dL/dz_k = -p^g (1[k = y] - p_k), cross-entropy's gradient
  scaled by p^g. Differentiating the weight as well would make the loss fall for p < e^(-1/g)
  (-p log p peaks at 1/e), so training would push every gold class below that confidence towards
  zero, starting with all of them at a random initialization.
- reverse focal, per class (v2): the weights p^g are divided by their mean over the batch's
  tokens of the same gold class. Each class keeps cross-entropy's total weight, and within a
  class the tokens the model contradicts count less. Measured reason: with v1's raw p^g, a
  randomly initialised head gives the frequent "O" class the larger weights, the entity
  classes' gradient shrinks with their low p, and training collapsed to tagging nothing
  (Spanish projected data, gamma 1: dev F1 0.0 at steps 100 and 200; see the ablation).
"""
from functools import partial
from typing import Callable, Tuple

import numpy
from spacy.util import registry

# (logits (n, k), gold class per row (n,), mask (n,): a weight per row, 0 = unannotated, 1 = plain) -> (summed loss, d_logits (n, k))
TokenLoss = Callable[[numpy.ndarray, numpy.ndarray, numpy.ndarray], Tuple[float, numpy.ndarray]]
EPSILON = 1e-12


def softmax(logits: numpy.ndarray) -> numpy.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = numpy.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def log_softmax(logits: numpy.ndarray) -> numpy.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - numpy.log(numpy.exp(shifted).sum(axis=-1, keepdims=True))


def _gold_terms(logits: numpy.ndarray, gold: numpy.ndarray, mask: numpy.ndarray):
    """(p, log p, mask weight, 1[k = y] - p_k) per row, after checking the shapes."""
    if logits.ndim != 2 or gold.shape != (logits.shape[0],) or mask.shape != gold.shape:
        raise ValueError(f"loss: expected logits (n, k), gold (n,), mask (n,); got {logits.shape}, {gold.shape}, {mask.shape}")
    rows = numpy.arange(len(gold))
    centred = -softmax(logits.astype("float64"))
    p = numpy.clip(-centred[rows, gold], EPSILON, 1.0)
    centred[rows, gold] += 1.0
    return p, numpy.log(p), mask.astype("float64"), centred


def per_class_mean_one(weights: numpy.ndarray, gold: numpy.ndarray, mask: numpy.ndarray) -> numpy.ndarray:
    """Weights divided by their mean over the annotated rows of the same gold class (unannotated rows keep theirs)."""
    annotated = mask > 0
    n_classes = int(gold.max()) + 1 if len(gold) else 0
    sums = numpy.bincount(gold[annotated], weights=weights[annotated], minlength=n_classes)
    counts = numpy.bincount(gold[annotated], minlength=n_classes)
    means = numpy.where(counts > 0, sums / numpy.maximum(counts, 1), 1.0)
    return numpy.where(annotated, weights / numpy.maximum(means[gold], EPSILON), weights)


def reverse_focal_loss(logits: numpy.ndarray, gold: numpy.ndarray, mask: numpy.ndarray, gamma: float, per_class: bool = False) -> Tuple[float, numpy.ndarray]:
    """Sum over annotated rows of -w log p with w = p^gamma held constant (per_class: w divided by its
    class mean in the batch), and its gradient (zero on masked rows)."""
    p, log_p, weight, centred = _gold_terms(logits, gold, mask)
    focus = p**gamma
    if per_class:
        focus = per_class_mean_one(focus, gold, weight)
    loss = float((-focus * log_p * weight).sum())
    d_logits = (-focus * weight)[:, None] * centred
    return loss, d_logits.astype(logits.dtype)


def focal_loss(logits: numpy.ndarray, gold: numpy.ndarray, mask: numpy.ndarray, gamma: float) -> Tuple[float, numpy.ndarray]:
    """Sum over annotated rows of -(1-p)^gamma log p, and its gradient (zero on masked rows)."""
    p, log_p, weight, centred = _gold_terms(logits, gold, mask)
    q = 1.0 - p
    loss = float((-(q**gamma) * log_p * weight).sum())
    # q^(gamma-1) diverges at q = 0 for gamma < 1, but there log p = 0 too: clipping q keeps the product finite
    q_pow = numpy.power(numpy.maximum(q, EPSILON), gamma - 1.0) if gamma > 0 else numpy.zeros_like(q)
    d_logits = ((gamma * p * q_pow * log_p - q**gamma) * weight)[:, None] * centred
    return loss, d_logits.astype(logits.dtype)


@registry.misc("spacy-xproj.CrossEntropy.v1")
def make_cross_entropy() -> TokenLoss:
    """Cross-entropy over the tags (reverse focal loss with gamma = 0)."""
    return partial(reverse_focal_loss, gamma=0.0)  # a partial of a module function, not a lambda: pipelines pickle


@registry.misc("spacy-xproj.FocalLoss.v1")
def make_focal_loss(gamma: float = 2.0) -> TokenLoss:
    """Focal loss -(1-p)^gamma log p (Lin et al. 2017): weights hard tokens up."""
    if gamma < 0:
        raise ValueError(f"FocalLoss: gamma must be >= 0, not {gamma}")
    return partial(focal_loss, gamma=gamma)


@registry.misc("spacy-xproj.ReverseFocalLoss.v1")
def make_reverse_focal_loss(gamma: float = 1.0) -> TokenLoss:
    """Reverse focal loss -p^gamma log p (Li, He & Xu 2021): weights confidently contradicted labels down."""
    if gamma < 0:
        raise ValueError(f"ReverseFocalLoss: gamma must be >= 0, not {gamma}")
    return partial(reverse_focal_loss, gamma=gamma)


@registry.misc("spacy-xproj.ReverseFocalLoss.v2")
def make_reverse_focal_loss_per_class(gamma: float = 1.0) -> TokenLoss:
    """Reverse focal loss with the weights p^gamma normalized to mean 1 within each gold class of the batch (see the module doc)."""
    if gamma < 0:
        raise ValueError(f"ReverseFocalLoss: gamma must be >= 0, not {gamma}")
    return partial(reverse_focal_loss, gamma=gamma, per_class=True)
