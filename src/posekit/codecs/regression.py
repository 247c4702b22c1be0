"""Direct coordinate regression codec (DeepPose, Toshev & Szegedy 2014).

The target of joint k is its position normalised by the input size,
``u = (x + 0.5) / W``, ``v = (y + 0.5) / H``: the image's outer edges map to 0 and 1 and pixel centres
to ``(i + 0.5) / W`` (the same half-pixel convention as :mod:`posekit.codecs`). DeepPose normalises by the
box centre instead (``[-0.5, 0.5]``); the two differ by a constant shift the network absorbs in its bias.
"""

from __future__ import annotations

import numpy as np

from posekit.codecs import as_numpy, joint_weights


class RegressionCodec:
    """Keypoints <-> normalised coordinates.

    input_size: (W, H) of the network input, pixels.

    ``encode``: (K, 3) (x, y, v) input pixels -> ``coords`` (K, 2) float32 in [0, 1] for joints on the
    input (0 for unlabelled joints), ``weights`` (K,) float32.
    ``decode``: coords (N, K, 2) or (K, 2) -> (N, K, 3) or (K, 3) float64 (x, y, score) in input pixels.
    """

    def __init__(self, input_size: tuple[int, int]) -> None:
        if min(input_size) < 1:
            raise ValueError(f"bad input size {input_size}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self._size = np.asarray(self.input_size, dtype=np.float64)

    def __repr__(self) -> str:
        return f"RegressionCodec(input_size={self.input_size})"

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        keypoints = np.asarray(keypoints, dtype=np.float64)
        weights = joint_weights(keypoints, self.input_size)
        coords = (np.nan_to_num(keypoints[:, :2]) + 0.5) / self._size
        coords[keypoints[:, 2] <= 0] = 0.0  # unlabelled: (x, y) carry no meaning
        return {"coords": coords.astype(np.float32), "weights": weights}

    def decode(self, coords: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
        """coords (N, K, 2) or (K, 2), numpy or torch; scores (N, K) / (K,) or None (all 1)."""
        c = as_numpy(coords).astype(np.float64)
        if c.shape[-1] != 2 or c.ndim not in (2, 3):
            raise ValueError(f"expected (N, K, 2) or (K, 2) coordinates, got {c.shape}")
        s = np.ones(c.shape[:-1]) if scores is None else np.broadcast_to(as_numpy(scores), c.shape[:-1])
        return np.concatenate([c * self._size - 0.5, s[..., None].astype(np.float64)], axis=-1)
