"""Codecs: keypoints -> training targets (``encode``) and network outputs -> keypoints (``decode``).

The same codec object encodes the targets for training and decodes the predictions at inference,
so the two can never disagree about the coordinate frame.

Coordinate frames, stated once for every codec
----------------------------------------------
* **Input pixels**: the frame of the network input (e.g. a 128x128 crop), the package convention of
  :mod:`posekit.types`: float, x right, y down, pixel *centres* at integer values, so the image covers
  ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``. Keypoints going in and out of every codec are (K, 3) arrays
  (x, y, v) / (x, y, score) in this frame.
* **Heatmap cells**: an output map of size (w, h) for an input of size (W, H) has stride
  ``s = (W / w, H / h)``; cell (i, j) covers an s x s block of input pixels and its centre sits at

      x = (i + 0.5) * s_x - 0.5,   y = (j + 0.5) * s_y - 0.5        (:func:`heatmap_to_input`)

  and conversely ``i = (x + 0.5) / s_x - 0.5`` (:func:`input_to_heatmap`). With this mapping the
  heatmap grid and the input grid cover exactly the same area (the ``-0.5``/``+0.5`` are the
  half-pixel terms that a plain ``x / s`` gets wrong by ``(s - 1) / 2`` input pixels).

Sizes are always given as (width, height); arrays are always indexed [..., row (y), column (x)].

Weights: ``encode`` returns a (K,) float32 ``weights`` array, 1 for a joint that is labelled
(v > 0) *and* inside the input, 0 otherwise (see :func:`joint_weights`). Losses multiply by it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Size = tuple[int, int]


def as_numpy(array) -> np.ndarray:
    """A numpy view of a numpy array or a (CPU or GPU, possibly grad-tracking) torch tensor."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def strides(input_size: Sequence[int], heatmap_size: Sequence[int]) -> np.ndarray:
    """(2,) float64 ``(W / w, H / h)``: input pixels per heatmap cell along x and y."""
    return np.asarray(input_size, dtype=np.float64) / np.asarray(heatmap_size, dtype=np.float64)


def input_to_heatmap(xy: np.ndarray, input_size: Sequence[int], heatmap_size: Sequence[int]) -> np.ndarray:
    """(..., 2) input-pixel coordinates -> (..., 2) float64 heatmap-cell coordinates."""
    s = strides(input_size, heatmap_size)
    return (np.asarray(xy, dtype=np.float64) + 0.5) / s - 0.5


def heatmap_to_input(xy: np.ndarray, input_size: Sequence[int], heatmap_size: Sequence[int]) -> np.ndarray:
    """(..., 2) heatmap-cell coordinates -> (..., 2) float64 input-pixel coordinates."""
    s = strides(input_size, heatmap_size)
    return (np.asarray(xy, dtype=np.float64) + 0.5) * s - 0.5


def inside(xy: np.ndarray, input_size: Sequence[int]) -> np.ndarray:
    """(...,) bool: the point lies on the input image: ``[-0.5, W - 0.5) x [-0.5, H - 0.5)``."""
    xy = np.asarray(xy, dtype=np.float64)
    w, h = input_size
    return (xy[..., 0] >= -0.5) & (xy[..., 0] < w - 0.5) & (xy[..., 1] >= -0.5) & (xy[..., 1] < h - 0.5)


def joint_weights(keypoints: np.ndarray, input_size: Sequence[int]) -> np.ndarray:
    """(K,) float32 target weights for (K, 3) keypoints: 1 where labelled (v > 0) and inside the input,
    0 otherwise (unlabelled joints and joints outside the input carry no target)."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 2 or keypoints.shape[1] < 3:
        raise ValueError(f"keypoints must be (K, 3), got shape {keypoints.shape}")
    ok = (keypoints[:, 2] > 0) & inside(keypoints[:, :2], input_size) & np.isfinite(keypoints[:, :2]).all(1)
    return ok.astype(np.float32)


from posekit.codecs.heatmap import HeatmapCodec  # noqa: E402  (the helpers above are imported by the codecs)
from posekit.codecs.offsets import OffsetCodec  # noqa: E402
from posekit.codecs.paf import PAFCodec  # noqa: E402
from posekit.codecs.regression import RegressionCodec  # noqa: E402

__all__ = [
    "HeatmapCodec", "OffsetCodec", "PAFCodec", "RegressionCodec", "as_numpy", "heatmap_to_input", "input_to_heatmap",
    "inside", "joint_weights", "strides",
]
