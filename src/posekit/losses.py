"""Losses: plain functions of (prediction, target, per-joint weights), each returning a one-entry dict
``{"loss_<name>": scalar tensor}`` that the training loop sums with the model's other terms.

Shapes: heatmap-like predictions and targets are (N, K, h, w); coordinates (N, K, 2); offset fields
(N, K, 2, h, w). ``weights`` is (N, K) (the codecs' per-joint ``weights`` stacked by the data loader;
``None`` = all ones): a joint's term is multiplied by its weight, and the sum is divided by the sum of
the weights, so a weight of 0 removes the joint entirely (its prediction affects neither the value nor
the gradient, even if it is inf/NaN) and the loss of a batch without any labelled joint is 0.

Normalisation, one convention for every function: *per joint* the loss is a mean over its pixels
(heatmaps, disks) or a sum over its two coordinates (regression, offsets); *over joints* it is the
weighted mean ``sum(w * loss_joint) / sum(w)``.

Note on ``heatmap_l2``: it is the plain mean squared error. SimpleBaseline / HRNet's ``JointsMSELoss``
multiplies by 0.5 and divides by K (not by the number of labelled joints), so with all joints labelled
their number is half of ours.

Every function takes ``name`` to rename its key (e.g. ``"heatmap_stage2"`` for intermediate supervision).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _weights(weights: Tensor | None, pred: Tensor) -> Tensor:
    """(N, K) float weights on pred's device (ones when None)."""
    n, k = pred.shape[:2]
    if weights is None:
        return torch.ones(n, k, device=pred.device, dtype=pred.dtype)
    weights = torch.as_tensor(weights, device=pred.device)
    if weights.shape != (n, k):
        weights = weights.reshape(n, k)
    return weights.to(pred.dtype)


def _check(pred: Tensor, target: Tensor, what: str, ndim: int) -> None:
    if pred.shape != target.shape or pred.dim() != ndim:
        raise ValueError(f"{what}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} must be "
                         f"equal {ndim}-d shapes")


def _weighted_mean(per_joint: Tensor, weights: Tensor) -> Tensor:
    """sum(w * l) / sum(w) over (N, K), with zero-weight joints masked out (so NaN/inf there cannot leak)."""
    on = weights > 0
    zero = torch.zeros((), dtype=per_joint.dtype, device=per_joint.device)
    terms = torch.where(on, per_joint * weights, zero)
    return terms.sum() / weights.clamp_min(0).sum().clamp_min(1e-6)


def _masked(x: Tensor, weights: Tensor) -> Tensor:
    """Replace the predictions of zero-weight joints by zeros *before* any arithmetic (NaN-proof
    gradient). x has leading (N, K)."""
    on = (weights > 0).reshape(weights.shape + (1,) * (x.dim() - 2))
    return torch.where(on, x, torch.zeros((), dtype=x.dtype, device=x.device))


# ---------------------------------------------------------------------------------------------- heatmaps
def heatmap_l2(pred: Tensor, target: Tensor, weights: Tensor | None = None, name: str = "heatmap_l2") -> dict:
    """Weighted mean over joints of the per-pixel mean squared error. pred, target (N, K, h, w)."""
    _check(pred, target, "heatmap_l2", 4)
    w = _weights(weights, pred)
    per_joint = ((_masked(pred, w) - _masked(target, w)) ** 2).flatten(2).mean(-1)
    return {f"loss_{name}": _weighted_mean(per_joint, w)}


def heatmap_l1(pred: Tensor, target: Tensor, weights: Tensor | None = None, name: str = "heatmap_l1") -> dict:
    """Weighted mean over joints of the per-pixel mean absolute error. pred, target (N, K, h, w)."""
    _check(pred, target, "heatmap_l1", 4)
    w = _weights(weights, pred)
    per_joint = (_masked(pred, w) - _masked(target, w)).abs().flatten(2).mean(-1)
    return {f"loss_{name}": _weighted_mean(per_joint, w)}


def heatmap_ce_softmax(
    pred: Tensor, target: Tensor, weights: Tensor | None = None, name: str = "heatmap_ce"
) -> dict:
    """Spatial softmax cross-entropy: each (h, w) map of logits ``pred`` is a distribution over its h*w
    cells (log-softmax); the target map, normalised to sum 1, is the reference distribution;
    per joint ``-sum(q * log p)``. A joint whose target map sums to 0 contributes nothing.
    pred (logits), target (non-negative) (N, K, h, w)."""
    _check(pred, target, "heatmap_ce_softmax", 4)
    w = _weights(weights, pred)
    t = _masked(target, w).flatten(2).clamp_min(0)
    mass = t.sum(-1, keepdim=True)
    q = t / mass.clamp_min(1e-12)
    logp = torch.log_softmax(_masked(pred, w).flatten(2), dim=-1)
    per_joint = -(q * logp).sum(-1)
    w = w * (mass.squeeze(-1) > 0)
    return {f"loss_{name}": _weighted_mean(per_joint, w)}


def heatmap_bce(
    pred: Tensor, target: Tensor, weights: Tensor | None = None, name: str = "heatmap_bce"
) -> dict:
    """Per-pixel binary cross-entropy of logits ``pred`` against a target in [0, 1] (e.g. the Gaussian
    heatmap), mean over pixels, weighted mean over joints. pred, target (N, K, h, w)."""
    _check(pred, target, "heatmap_bce", 4)
    w = _weights(weights, pred)
    per_pixel = F.binary_cross_entropy_with_logits(_masked(pred, w), _masked(target, w), reduction="none")
    return {f"loss_{name}": _weighted_mean(per_pixel.flatten(2).mean(-1), w)}


HEATMAP_LOSSES = {"l2": heatmap_l2, "l1": heatmap_l1, "ce": heatmap_ce_softmax, "bce": heatmap_bce}


def masked_l2(pred: Tensor, target: Tensor, mask: Tensor, name: str = "masked_l2") -> dict:
    """Mean squared error over every cell of (N, C, h, w) maps, cells where ``mask`` is 0 contributing
    nothing (value and gradient, NaN-proof): ``sum(mask * (pred - target)^2) / (N C h w)``, so with an
    all-ones mask it is :func:`heatmap_l2` with all joints labelled. The pixel mask of Cao et al. 2017
    (part affinity fields): unannotated regions are neither positives nor negatives. ``mask`` broadcasts
    to ``pred`` (e.g. (N, 1, h, w) for every channel alike)."""
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"masked_l2: prediction {tuple(pred.shape)} and target {tuple(target.shape)} must be "
                         "equal 4-d shapes")
    on = torch.as_tensor(mask, device=pred.device).expand_as(pred) > 0
    zero = torch.zeros((), dtype=pred.dtype, device=pred.device)
    diff = torch.where(on, pred, zero) - torch.where(on, target.to(pred.dtype), zero)
    return {f"loss_{name}": (diff**2).sum() / max(pred.numel(), 1)}


# -------------------------------------------------------------------------------------------- regression
def regression_l2(
    pred: Tensor, target: Tensor, weights: Tensor | None = None, name: str = "regression_l2"
) -> dict:
    """Squared Euclidean distance per joint, ``(dx^2 + dy^2)``, weighted mean over joints (DeepPose).
    pred, target (N, K, 2) in the same units (the regression codec's normalised coordinates)."""
    _check(pred, target, "regression_l2", 3)
    w = _weights(weights, pred)
    per_joint = ((_masked(pred, w) - _masked(target, w)) ** 2).sum(-1)
    return {f"loss_{name}": _weighted_mean(per_joint, w)}


def regression_l1(
    pred: Tensor, target: Tensor, weights: Tensor | None = None, name: str = "regression_l1"
) -> dict:
    """``|dx| + |dy|`` per joint, weighted mean over joints. pred, target (N, K, 2)."""
    _check(pred, target, "regression_l1", 3)
    w = _weights(weights, pred)
    per_joint = (_masked(pred, w) - _masked(target, w)).abs().sum(-1)
    return {f"loss_{name}": _weighted_mean(per_joint, w)}


# -------------------------------------------------------------------------------------- offsets (G-RMI)
def offset_loss(
    pred: Tensor,
    target: Tensor,
    disk: Tensor,
    weights: Tensor | None = None,
    kind: str = "huber",
    delta: float = 0.25,
    name: str = "offset",
) -> dict:
    """G-RMI offset regression, only inside each joint's disk. pred, target (N, K, 2, h, w) (offsets
    divided by the disk radius, as :class:`~posekit.codecs.OffsetCodec` encodes them); disk (N, K, h, w)
    in {0, 1}. Per cell the error is summed over (dx, dy) with ``kind``: ``"huber"`` (the paper's
    choice; ``delta`` in radius units: 0.25 = a quarter radius), ``"l1"`` or ``"l2"`` (squared); per joint
    it is averaged over its disk cells; a joint with an empty disk contributes nothing."""
    if pred.shape != target.shape or pred.dim() != 5 or pred.shape[2] != 2:
        raise ValueError(f"offset_loss: prediction {tuple(pred.shape)} and target {tuple(target.shape)} "
                         "must both be (N, K, 2, h, w)")
    if disk.shape != pred.shape[:2] + pred.shape[3:]:
        raise ValueError(f"offset_loss: disk {tuple(disk.shape)} must be (N, K, h, w) to match "
                         f"{tuple(pred.shape)}")
    w = _weights(weights, pred)
    inside = (disk > 0).unsqueeze(2)
    zero = torch.zeros((), dtype=pred.dtype, device=pred.device)
    p = torch.where(inside, _masked(pred, w), zero)
    t = torch.where(inside, _masked(target, w), zero)
    if kind == "huber":
        err = F.huber_loss(p, t, reduction="none", delta=delta)
    elif kind == "l1":
        err = (p - t).abs()
    elif kind == "l2":
        err = (p - t) ** 2
    else:
        raise ValueError(f"offset_loss: kind must be 'huber', 'l1' or 'l2', got {kind!r}")
    cells = inside.squeeze(2).flatten(2).sum(-1).to(pred.dtype)
    per_joint = err.sum(2).flatten(2).sum(-1) / cells.clamp_min(1)
    w = w * (cells > 0)
    return {f"loss_{name}": _weighted_mean(per_joint, w)}


def disk_bce(pred: Tensor, disk: Tensor, weights: Tensor | None = None, name: str = "disk") -> dict:
    """G-RMI disk classification: per-cell logistic loss of logits ``pred`` against the binary disk,
    mean over cells, weighted mean over joints. pred, disk (N, K, h, w)."""
    return heatmap_bce(pred, disk, weights, name=name)


__all__ = [
    "HEATMAP_LOSSES", "disk_bce", "heatmap_bce", "heatmap_ce_softmax", "heatmap_l1", "heatmap_l2",
    "masked_l2", "offset_loss", "regression_l1", "regression_l2",
]


REGRESSION_LOSSES = {"l2": regression_l2, "l1": regression_l1}


def _lookup(table: dict, name: str, kind: str):
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} loss {name!r}; known: {sorted(table)}") from None


def _softmax_mass(logits: Tensor) -> Tensor:
    """Spatial softmax of (N, K, h, w) logits, rescaled per map so that its peak value is the softmax mass
    of the 3x3 cells around the peak (the probability that the joint lies within one cell of it, in
    [0, 1]). The shape, hence the arg-max and DARK's log-domain fit, is the softmax's own."""
    prob = torch.softmax(logits.flatten(2), -1)
    mass = F.avg_pool2d(prob.view_as(logits), 3, 1, 1).flatten(2) * 9  # zero-padded: a true 3x3 sum
    top, idx = prob.max(-1, keepdim=True)
    scale = mass.gather(-1, idx).clamp(max=1) / top.clamp_min(1e-12)
    return (prob * scale).view_as(logits)


# What a model trained with each heatmap loss outputs outside training, so that decoding (arg-max, DARK)
# and confidences (the peak value, about 1 for a sure joint) mean the same for every loss: l2 / l1 maps
# already regress the Gaussian target; bce maps are logits -> sigmoid; ce maps are logits of a spatial
# distribution -> its 3x3 neighbourhood mass.
HEATMAP_ACTIVATIONS = {"l2": lambda x: x, "l1": lambda x: x, "ce": _softmax_mass, "bce": torch.sigmoid}


def heatmap_activation(name: str):
    """(N, K, h, w) raw model maps -> heatmaps to decode, for a model trained with heatmap loss ``name``."""
    return _lookup(HEATMAP_ACTIVATIONS, name, "heatmap")


def heatmap_loss(name: str):
    """The heatmap loss function called ``name`` in HEATMAP_LOSSES; a clear ValueError otherwise."""
    return _lookup(HEATMAP_LOSSES, name, "heatmap")


def regression_loss(name: str):
    """The regression loss function called ``name`` in REGRESSION_LOSSES; a clear ValueError otherwise."""
    return _lookup(REGRESSION_LOSSES, name, "regression")
