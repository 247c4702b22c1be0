"""Heatmap + offset-field codec of G-RMI (Papandreou et al. 2017, "Towards Accurate Multi-person Pose
Estimation in the Wild").

Per joint k the network predicts, on the heatmap grid:

* a *disk* probability ``h_k(x)``: 1 if cell centre ``x`` lies within ``radius`` input pixels of the
  joint, else 0 (a binary classification target, trained with a per-cell logistic loss);
* a 2-D *offset* ``F_k(x) = l_k - x``: the vector from the cell centre to the joint, in input pixels,
  divided here by ``radius`` so it lies in [-1, 1] (only meaningful, and only trained, inside the disk).

Decoding (the paper's aggregation): every cell casts a Hough vote of weight ``h_k(x)`` at the point
``x + F_k(x)`` into an accumulator with one bin per input pixel, spread to the four nearest pixels
with bilinear weights; the arg-max of the accumulator is the joint's location. For sub-pixel output the
location is then refined to the probability-weighted mean of the votes that landed within ``window``
input pixels of that arg-max (exact for clean targets, and a local mean-shift step for noisy ones).
"""

from __future__ import annotations

import numpy as np

from posekit.codecs import as_numpy, input_to_heatmap, joint_weights, strides


class OffsetCodec:
    """Keypoints <-> (disk heatmap, offset field) per joint.

    input_size: (W, H) of the network input, pixels. heatmap_size: (w, h) of the output maps.
    radius: disk radius R in input pixels (the paper: 25 px at a 353x257 input, stride 8); should be at
        least one stride so the disk holds several cells (the cell nearest the joint is always included).
    window: refinement window of the decoder in input pixels (default: the larger stride).

    ``encode``: (K, 3) (x, y, v) input pixels -> ``disk`` (K, h, w) float32 in {0, 1}, ``offsets``
    (K, 2, h, w) float32 ((dx, dy) from each cell centre to the joint, input pixels / R, zero outside
    the disk), ``weights`` (K,) float32. A joint of weight 0 gets an empty disk and zero offsets.
    ``decode``: disk_prob (N, K, h, w) and offsets (N, K, 2, h, w) (or without N) -> (N, K, 3) (or
    (K, 3)) float64: (x, y) in input pixels, score = the highest disk probability among the cells whose
    votes support the decoded location.
    """

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        radius: float,
        window: float | None = None,
    ) -> None:
        if radius <= 0:
            raise ValueError(f"radius must be positive, got {radius}")
        if min(heatmap_size) < 1 or min(input_size) < 1:
            raise ValueError(f"bad sizes: input {input_size}, heatmap {heatmap_size}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.radius = float(radius)
        stride = strides(self.input_size, self.heatmap_size)
        self.window = float(stride.max()) if window is None else float(window)
        w, h = self.heatmap_size
        # input-pixel coordinates of the cell centres along x and y
        self._cx = (np.arange(w) + 0.5) * stride[0] - 0.5
        self._cy = (np.arange(h) + 0.5) * stride[1] - 0.5

    def __repr__(self) -> str:
        return (f"OffsetCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"radius={self.radius}, window={self.window})")

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        keypoints = np.asarray(keypoints, dtype=np.float64)
        weights = joint_weights(keypoints, self.input_size)
        xy = np.nan_to_num(keypoints[:, :2])
        w, h = self.heatmap_size
        dx = xy[:, 0:1] - self._cx[None, :]  # (K, w)
        dy = xy[:, 1:2] - self._cy[None, :]  # (K, h)
        dx = np.broadcast_to(dx[:, None, :], (len(xy), h, w))
        dy = np.broadcast_to(dy[:, :, None], (len(xy), h, w))
        disk = dx**2 + dy**2 <= self.radius**2
        # the nearest cell always belongs to the disk, so a small radius never leaves a joint without one
        near = np.clip(np.rint(input_to_heatmap(xy, self.input_size, self.heatmap_size)), 0, [w - 1, h - 1])
        near = near.astype(np.int64)
        disk[np.arange(len(xy)), near[:, 1], near[:, 0]] = True
        disk &= weights[:, None, None] > 0
        offsets = np.stack([dx, dy], axis=1) / self.radius * disk[:, None]
        return {"disk": disk.astype(np.float32), "offsets": offsets.astype(np.float32), "weights": weights}

    def decode(self, disk_prob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        prob = as_numpy(disk_prob).astype(np.float64)
        off = as_numpy(offsets).astype(np.float64)
        single = prob.ndim == 3
        if single:
            prob, off = prob[None], off[None]
        w, h = self.heatmap_size
        if prob.shape[-2:] != (h, w) or off.shape != prob.shape[:2] + (2, h, w):
            raise ValueError(f"expected disk_prob (N, K, {h}, {w}) and offsets (N, K, 2, {h}, {w}), got "
                             f"{as_numpy(disk_prob).shape} and {as_numpy(offsets).shape}")
        n, k = prob.shape[:2]
        prob = np.clip(prob.reshape(n * k, h * w), 0.0, None)  # a negative probability casts no vote
        vx = (self._cx[None, None, :] + off[:, :, 0] * self.radius).reshape(n * k, h * w)
        vy = (self._cy[None, :, None] + off[:, :, 1] * self.radius).reshape(n * k, h * w)
        big_w, big_h = self.input_size
        out = np.zeros((n * k, 3))
        chunk = max(1, (1 << 22) // (big_w * big_h))
        for s in range(0, n * k, chunk):
            p, x, y = prob[s : s + chunk], vx[s : s + chunk], vy[s : s + chunk]
            m = len(p)
            # Hough voting with bilinear splatting into one bin per input pixel
            acc = np.zeros(m * big_h * big_w)
            x0, y0 = np.floor(x), np.floor(y)
            fx, fy = x - x0, y - y0
            base = (np.arange(m) * big_h * big_w)[:, None]
            for ox, oy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                               (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
                xi, yi = x0 + ox, y0 + oy
                ok = (xi >= 0) & (xi < big_w) & (yi >= 0) & (yi < big_h) & np.isfinite(wt)
                idx = base + np.where(ok, yi * big_w + xi, 0).astype(np.int64)
                acc += np.bincount(idx[ok], weights=(p * wt)[ok], minlength=m * big_h * big_w)
            peak = acc.reshape(m, -1).argmax(axis=1)
            px, py = (peak % big_w).astype(np.float64), (peak // big_w).astype(np.float64)
            # refine: weighted mean of the votes near the accumulator's maximum
            near = (x - px[:, None]) ** 2 + (y - py[:, None]) ** 2 <= self.window**2
            wn = np.where(near, p, 0.0)
            total = wn.sum(axis=1)
            safe = np.where(total > 0, total, 1.0)
            out[s : s + chunk, 0] = np.where(total > 0, (wn * np.where(near, x, 0)).sum(1) / safe, px)
            out[s : s + chunk, 1] = np.where(total > 0, (wn * np.where(near, y, 0)).sum(1) / safe, py)
            out[s : s + chunk, 2] = wn.max(axis=1)
        out = out.reshape(n, k, 3)
        return out[0] if single else out
