"""Training objectives for word alignment, on a batch of subword vectors (pure torch).

Both objectives take their guide links from the similarity BiSoftmax thresholds at the
subword level: centred cosine minus a distortion penalty, over a temperature.

- Self-training (awesome-align's "SO" objective, Dou & Neubig 2021, sec. 2.2): the model
  extracts its own confident bidirectional links A (no gradient through A) and raises the
  probabilities it gives them: loss = -mean over pairs of (sum(A * P_fwd) / m + sum(A * P_bwd) / n),
  where P_fwd is the softmax over target subwords, P_bwd over source subwords, m and n the lengths.
- Contrastive (InfoNCE over the batch): a linked source subword must pick its target
  subword among the target subwords of *every* sentence in the batch, and vice versa;
  the other sentences supply the hard negatives a single pair lacks. Its scores are centred
  cosine over the temperature; the distortion term (defined within a pair) shapes only the guide.
"""
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F

_MASKED = -1e9


class PairBatch(NamedTuple):
    """Content subword vectors of a batch of pairs (special tokens removed), with masks."""

    source: torch.Tensor  # [B, m, H]
    source_mask: torch.Tensor  # [B, m] bool
    target: torch.Tensor  # [B, n, H]
    target_mask: torch.Tensor  # [B, n] bool


def _centred_unit(vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # Removing each sentence's mean vector removes what all its words share (as BiSoftmax does).
    weights = mask.unsqueeze(-1).to(vectors.dtype)
    mean = (vectors * weights).sum(1, keepdim=True) / weights.sum(1, keepdim=True).clamp(min=1.0)
    return F.normalize((vectors - mean) * weights, dim=-1)


def unit_vectors(batch: PairBatch):
    """Centred unit vectors of both sides, in float32; padding positions are zero."""
    return _centred_unit(batch.source.float(), batch.source_mask), _centred_unit(batch.target.float(), batch.target_mask)


def content_cells(batch: PairBatch) -> torch.Tensor:
    """bool [B, m, n]: the cells that pair a content subword of the source with one of the target."""
    return batch.source_mask[:, :, None] & batch.target_mask[:, None, :]


def alignment_logits(
    batch: PairBatch, temperature: float, distortion: float, units: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
) -> torch.Tensor:
    """[B, m, n]: (centred cosine - distortion * (i/m - j/n)^2) / temperature; padding cells masked.

    units (Optional[Tuple[Tensor, Tensor]]): the batch's `unit_vectors`, when the caller has them already (None: computed here).
    """
    source, target = units if units is not None else unit_vectors(batch)
    cosine = source @ target.transpose(1, 2)
    m = batch.source_mask.sum(1, keepdim=True).float()
    n = batch.target_mask.sum(1, keepdim=True).float()
    i = torch.arange(source.shape[1], dtype=torch.float32)[None, :] / m  # [B, m]
    j = torch.arange(target.shape[1], dtype=torch.float32)[None, :] / n  # [B, n]
    logits = (cosine - distortion * (i[:, :, None] - j[:, None, :]) ** 2) / temperature
    return logits.masked_fill(~content_cells(batch), _MASKED)


def bidirectional_probabilities(logits: torch.Tensor):
    """(P_fwd, P_bwd): softmax over target subwords per source subword, and over source subwords per target subword."""
    return logits.softmax(dim=2), logits.softmax(dim=1)


def guide_links(forward: torch.Tensor, backward: torch.Tensor, cells: torch.Tensor, threshold: float) -> torch.Tensor:
    """The model's confident links: both directions above `threshold` (awesome-align's extraction); bool [B, m, n]."""
    with torch.no_grad():
        return (forward > threshold) & (backward > threshold) & cells


def self_training_loss(batch: PairBatch, temperature: float, distortion: float, threshold: float) -> Dict[str, torch.Tensor]:
    logits = alignment_logits(batch, temperature, distortion)
    forward, backward = bidirectional_probabilities(logits)
    guide = guide_links(forward, backward, content_cells(batch), threshold).to(forward.dtype)
    m = batch.source_mask.sum(1).float()
    n = batch.target_mask.sum(1).float()
    per_pair = (guide * forward).sum((1, 2)) / m + (guide * backward).sum((1, 2)) / n
    return {"loss": -per_pair.mean(), "links": guide.sum() / len(m)}


def contrastive_loss(batch: PairBatch, temperature: float, distortion: float, threshold: float) -> Dict[str, torch.Tensor]:
    source, target = unit_vectors(batch)
    logits = alignment_logits(batch, temperature, distortion, (source, target))
    forward, backward = bidirectional_probabilities(logits)
    guide = guide_links(forward, backward, content_cells(batch), threshold)
    pair, i, j = guide.nonzero(as_tuple=True)
    if len(pair) == 0:  # nothing confident yet: no signal, but keep the graph for a uniform backward()
        return {"loss": logits.sum() * 0.0, "links": torch.tensor(0.0)}
    # every content subword of the batch, flattened; a link's positive is its own partner
    source_rows = batch.source_mask.flatten().nonzero(as_tuple=True)[0]
    target_rows = batch.target_mask.flatten().nonzero(as_tuple=True)[0]
    all_source = source.flatten(0, 1)[source_rows]
    all_target = target.flatten(0, 1)[target_rows]
    source_position = torch.full((batch.source_mask.numel(),), -1, dtype=torch.long)
    source_position[source_rows] = torch.arange(len(source_rows))
    target_position = torch.full((batch.target_mask.numel(),), -1, dtype=torch.long)
    target_position[target_rows] = torch.arange(len(target_rows))
    linked_source = source_position[pair * batch.source_mask.shape[1] + i]
    linked_target = target_position[pair * batch.target_mask.shape[1] + j]
    to_targets = all_source[linked_source] @ all_target.T / temperature
    to_sources = all_target[linked_target] @ all_source.T / temperature
    loss = (F.cross_entropy(to_targets, linked_target) + F.cross_entropy(to_sources, linked_source)) / 2
    return {"loss": loss, "links": guide.sum().float() / len(batch.source_mask)}


OBJECTIVES: Dict[str, Callable[..., Dict[str, torch.Tensor]]] = {
    "self-training": self_training_loss,
    "contrastive": contrastive_loss,
}
