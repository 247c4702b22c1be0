"""Centre-heatmap box codec for the person detector (CenterNet: Zhou, Wang & Krähenbühl 2019,
"Objects as Points").

``encode``: person boxes (x, y, w, h) in input pixels -> dense targets on the output grid of stride s:

* ``centers`` (1, h, w): an unnormalised Gaussian per person peaking at 1 on the cell of the box centre
  (max over people), std = 0.15 x the box's width / height in cells (at least ``min_sigma`` cells):
  elliptical, so a tall person's peak is tall, as CenterNet's size-adaptive radius;
* ``sizes`` (2, h, w): log(box w / s), log(box h / s) on each centre cell (zero elsewhere);
* ``offsets`` (2, h, w): the centre's sub-cell position (in cells, [0, 1)) relative to its cell;
* ``box_mask`` (1, h, w): 1 on each centre cell (where ``sizes`` and ``offsets`` are supervised);
* ``ignore`` (1, h, w): 1 inside ignore regions (COCO crowd boxes, people too small to learn from),
  where the centre loss is not applied.

Cells follow :mod:`posekit.codecs`: the centre of cell (i, j) is at ((i + 0.5) s - 0.5, (j + 0.5) s - 0.5)
input pixels; a box (x, y, w, h) covers [x, x + w] x [y, y + h] and its centre is (x + w/2, y + h/2).

``decode``: peaks of the centre map (3 x 3 local maxima, as CenterNet's max-pool NMS) above a
threshold, each read as a box from its size and offset, then greedy IoU NMS. Scores are the peak
values (the sigmoid of the centre logit), optionally mapped through a logistic calibration fitted on
validation data (:func:`fit_calibration`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posekit.codecs import heatmap_to_input, input_to_heatmap, strides


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (N, M) of (N, 4) and (M, 4) boxes (x, y, w, h)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax1, ay1 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx1, by1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1[:, None], bx1[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay1[:, None], by1[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def greedy_match(boxes: np.ndarray, gt_boxes: np.ndarray, iou_threshold: float = 0.5) -> np.ndarray:
    """(N,) bool: which of the (N, 4) boxes (in decreasing score order) match a distinct ground-truth box
    with IoU >= ``iou_threshold``, greedily, as detection AP counts a true positive."""
    gts = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
    used = np.zeros(len(gts), bool)
    out = np.zeros(len(boxes), bool)
    for i, b in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)):
        if not len(gts):
            break
        iou = box_iou(b[None], gts)[0]
        iou[used] = 0
        j = int(np.argmax(iou))
        if iou[j] >= iou_threshold:
            used[j] = out[i] = True
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, by decreasing score."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    while len(order):
        i = int(order[0])
        keep.append(i)
        if len(order) == 1:
            break
        ious = box_iou(boxes[i:i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def fit_calibration(scores: np.ndarray, correct: np.ndarray, iterations: int = 200) -> tuple[float, float]:
    """Logistic (Platt) calibration: (a, b) with P(correct) = sigmoid(a * logit(score) + b), fitted by
    Newton's method on detections' raw ``scores`` and whether each matched a person (``correct``)."""
    s = np.clip(np.asarray(scores, dtype=np.float64), 1e-6, 1 - 1e-6)
    y = np.asarray(correct, dtype=np.float64)
    if len(s) == 0 or y.min() == y.max():
        return 1.0, 0.0
    x = np.log(s / (1 - s))
    X = np.stack([x, np.ones_like(x)], axis=1)
    w = np.array([1.0, 0.0])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(X @ w)))
        g = X.T @ (p - y)
        H = X.T @ (X * (p * (1 - p))[:, None]) + 1e-6 * np.eye(2)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return float(w[0]), float(w[1])


class CenterBoxCodec:
    """input_size: (W, H) network input; heatmap_size: (w, h) output grid; min_sigma: smallest Gaussian
    std in cells; min_box: boxes with a side under this many input pixels become ignore regions;
    calibration: (a, b) of :func:`fit_calibration` applied to decoded scores ((1, 0) = raw scores)."""

    def __init__(self, input_size: Sequence[int], heatmap_size: Sequence[int], min_sigma: float = 0.8,
                 min_box: float = 6.0, calibration: tuple[float, float] = (1.0, 0.0)) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.stride = strides(self.input_size, self.heatmap_size)
        self.min_sigma = float(min_sigma)
        self.min_box = float(min_box)
        self.calibration = (float(calibration[0]), float(calibration[1]))

    def cells(self, box: np.ndarray) -> tuple[slice, slice]:
        """(rows, columns) of the heatmap cells an (x, y, w, h) input-pixel box touches, clipped at 0."""
        x0, y0 = input_to_heatmap(box[:2], self.input_size, self.heatmap_size)
        x1, y1 = input_to_heatmap(box[:2] + box[2:], self.input_size, self.heatmap_size)
        return (slice(max(0, int(np.floor(y0))), max(0, int(np.ceil(y1)) + 1)),
                slice(max(0, int(np.floor(x0))), max(0, int(np.ceil(x1)) + 1)))

    def encode(self, boxes: np.ndarray, ignore_boxes: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Targets (see module docstring) for (N, 4) boxes and (M, 4) ignore regions in input pixels."""
        w, h = self.heatmap_size
        centers = np.zeros((1, h, w), np.float32)
        sizes = np.zeros((2, h, w), np.float32)
        offsets = np.zeros((2, h, w), np.float32)
        mask = np.zeros((1, h, w), np.float32)
        ignore = np.zeros((1, h, w), np.float32)
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        small = (boxes[:, 2] < self.min_box) | (boxes[:, 3] < self.min_box)
        given = np.zeros((0, 4)) if ignore_boxes is None else np.asarray(ignore_boxes, dtype=np.float64)
        regions = [given.reshape(-1, 4), boxes[small]]
        for box in np.concatenate(regions):
            ignore[(0, *self.cells(box))] = 1
        gx, gy = np.arange(w)[None, :], np.arange(h)[:, None]
        for box in boxes[~small]:
            c = input_to_heatmap(box[:2] + box[2:] / 2, self.input_size, self.heatmap_size)
            cell = np.floor(c + 0.5).astype(int)  # the cell whose centre is nearest
            if not (0 <= cell[0] < w and 0 <= cell[1] < h):
                continue  # centre off the grid: the person is mostly outside the input
            size_cells = box[2:] / self.stride
            sx, sy = np.maximum(self.min_sigma, 0.15 * size_cells)
            # peak exactly 1 on the centre cell: the Gaussian is centred there, not at the sub-cell point
            g = np.exp(-((gx - cell[0]) ** 2) / (2 * sx**2) - ((gy - cell[1]) ** 2) / (2 * sy**2))
            np.maximum(centers[0], g.astype(np.float32), out=centers[0])
            sizes[:, cell[1], cell[0]] = np.log(np.maximum(size_cells, 1e-3))
            offsets[:, cell[1], cell[0]] = c - cell + 0.5
            mask[0, cell[1], cell[0]] = 1
        ignore[0][centers[0] >= 1] = 0  # a real centre inside a crowd region is still a centre
        return {"centers": centers, "sizes": sizes, "offsets": offsets, "box_mask": mask, "ignore": ignore}

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        if (a, b) == (1.0, 0.0):
            return np.asarray(scores, dtype=np.float64)
        s = np.clip(np.asarray(scores, dtype=np.float64), 1e-6, 1 - 1e-6)
        return 1 / (1 + np.exp(-(a * np.log(s / (1 - s)) + b)))

    def decode(self, centers: np.ndarray, sizes: np.ndarray, offsets: np.ndarray, threshold: float = 0.05,
               iou_threshold: float = 0.6, max_boxes: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """Boxes from one image's outputs: ``centers`` (h, w) activated (in [0, 1]), ``sizes`` and
        ``offsets`` (2, h, w). Returns ((N, 4) boxes x, y, w, h in input pixels, (N,) scores), sorted by
        score; ``threshold`` applies to the calibrated score."""
        heat = np.asarray(centers, dtype=np.float32)
        h, w = heat.shape
        padded = np.pad(heat, 1, constant_values=-np.inf)
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3))
        peak = heat >= windows.max(axis=(2, 3))
        ys, xs = np.nonzero(peak)
        raw = heat[ys, xs]
        scores = self.calibrate(raw)
        keep = scores >= threshold
        ys, xs, scores = ys[keep], xs[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")[: max_boxes * 4]
        ys, xs, scores = ys[order], xs[order], scores[order]
        if len(ys) == 0:
            return np.zeros((0, 4)), np.zeros(0)
        cell = np.stack([xs, ys], axis=1).astype(np.float64)
        c = cell - 0.5 + np.asarray(offsets, dtype=np.float64)[:, ys, xs].T
        centre = heatmap_to_input(c, self.input_size, self.heatmap_size)
        size = np.exp(np.clip(np.asarray(sizes, dtype=np.float64)[:, ys, xs].T, -5, 8)) * self.stride
        boxes = np.concatenate([centre - size / 2, size], axis=1)
        kept = nms(boxes, scores, iou_threshold)[:max_boxes]
        return boxes[kept], scores[kept]
