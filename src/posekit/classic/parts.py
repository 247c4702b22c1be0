"""Part appearance: one linear HOG detector mixture per joint, trained discriminatively.

Orientation is handled by a **mixture of part types** (Yang & Ramanan 2011): the training instances of
each joint are clustered (k-means) by the offset of the joint from its parent in the tree (for the root,
the neck, by the offset of the head top from it), i.e. by the orientation and foreshortening of the limb
that ends there; each type gets its own template. Parts are not rotated.

Training (:func:`train_parts`), per joint, one multinomial logistic regression (scikit-learn, lbfgs) over
classes {background, type 1 .. type M} on HOG windows (:mod:`.features`) of images at the canonical
scale: positives = the window at the joint's grid cell (visible joints only), negatives = random cells
at least ``min_neg_dist`` cells from the joint (other parts included, so a detector learns to tell a
wrist from an elbow), then ``hard_rounds`` rounds of hard negatives (the highest-scoring wrong cells on
training images) and a refit. The score of type t at a cell is its log-odds against background,
``(w_t - w_bg) . x + (b_t - b_bg)``; a joint's unary is the best type's score. With ``flip`` every
training image is used twice, as it is and mirrored (left and right joints exchanged).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from posekit.classic.features import CANONICAL, hog_grid, pixel_to_block, rescale, window_at, windows
from posekit.data.dataset import read_image
from posekit.skeletons import LSP14
from posekit.types import Sample, box_from_keypoints


@dataclass
class PartDetectors:
    """Linear part-type templates: ``filters`` (D, K * M) float32 (column k * M + t = joint k, type t),
    ``bias`` (K * M,), window ``radius`` in blocks, ``type_centres`` (K, M, 2): each type's mean offset
    from the reference joint (:func:`reference_offsets`) in canonical px."""

    filters: np.ndarray
    bias: np.ndarray
    num_types: int
    radius: int
    type_centres: np.ndarray

    @property
    def num_parts(self) -> int:
        return self.filters.shape[1] // self.num_types

    def type_scores(self, grid: np.ndarray) -> np.ndarray:
        """(K, M, by, bx) log-odds of every part type at every cell of a HOG grid."""
        by, bx, _ = grid.shape
        s = windows(grid, self.radius) @ self.filters + self.bias
        return s.T.reshape(self.num_parts, self.num_types, by, bx)

    def score_maps(self, grid: np.ndarray) -> np.ndarray:
        """(K, by, bx) unaries: the best type's log-odds at each cell."""
        return self.type_scores(grid).max(axis=1)

    def to_dict(self) -> dict:
        return {"filters": self.filters, "bias": self.bias, "num_types": self.num_types, "radius": self.radius,
                "type_centres": self.type_centres}

    @classmethod
    def from_dict(cls, d: dict) -> PartDetectors:
        return cls(np.asarray(d["filters"], np.float32), np.asarray(d["bias"], np.float32), int(d["num_types"]),
                   int(d["radius"]), np.asarray(d["type_centres"], np.float32))


def canonical_view(sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image at the canonical scale, its keypoints (K, 3) there, scale factors (fx, fy)): the image
    resized so that the person's keypoint box has ``CANONICAL`` px on its longer side."""
    image = read_image(sample.image_path)
    kp = np.asarray(sample.people[0].keypoints, dtype=np.float64).copy()
    box = box_from_keypoints(kp)
    small = rescale(image, CANONICAL / max(box[2], box[3], 1.0))
    f = np.array([small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]])
    kp[:, :2] = (kp[:, :2] + 0.5) * f - 0.5  # cv2.resize maps pixel centres this way
    return small, kp, f


def reference_offsets(keypoints: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """(N, K, 2) offset of each joint from its parent (the root: of its first child from it), used to
    cluster part types; (N, K, 3) keypoints in canonical px."""
    parents = np.asarray(parents)
    root = int(np.flatnonzero(parents < 0)[0])
    ref = parents.copy()
    ref[root] = int(np.flatnonzero(parents == root)[-1])
    off = keypoints[:, :, :2] - keypoints[:, ref, :2]
    off[:, root] *= -1
    return off


def cluster_types(offsets: np.ndarray, usable: np.ndarray, num_types: int, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Part types of the training instances: per joint, k-means (scikit-learn) of its reference offsets
    (N, K, 2) over the ``usable`` (N, K) instances. Returns ((N, K) type, -1 where unusable; (K, M, 2)
    the cluster centres, i.e. each type's mean offset, in the offsets' units)."""
    from sklearn.cluster import KMeans

    n, k, _ = offsets.shape
    types = np.full((n, k), -1, dtype=np.int64)
    centres = np.zeros((k, num_types, 2))
    for j in range(k):
        use = usable[:, j]
        km = KMeans(num_types, n_init=3, random_state=seed).fit(offsets[use, j])
        types[use, j] = km.labels_
        centres[j] = km.cluster_centers_
    return types, centres


def assign_types(offsets: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(N, K) nearest type centre (K, M, 2) of every reference offset (N, K, 2)."""
    d = ((offsets[:, :, None, :] - centres[None]) ** 2).sum(-1)
    return d.argmin(-1)


def class_weights(clf, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted scikit-learn LogisticRegression's per-class (num_classes, D) weights and (num_classes,)
    biases, classes it never saw getting a -1e6 bias (never chosen); a two-class fit's single weight
    vector is the second class's against the first."""
    d = clf.coef_.shape[1]
    coef, inter = np.zeros((num_classes, d)), np.full(num_classes, -1e6)
    classes = clf.classes_
    if len(classes) == 2:
        coef[classes[1]], inter[classes[1]] = clf.coef_[0], clf.intercept_[0]
        inter[classes[0]] = 0.0
    else:
        coef[classes], inter[classes] = clf.coef_, clf.intercept_
    return coef, inter


def _fit(pos: np.ndarray, pos_types: np.ndarray, neg: np.ndarray, num_types: int, c: float, seed: int
         ) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression {bg, types}; returns (D, M) type-vs-background weights, (M,) bias."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([pos, neg])
    y = np.concatenate([pos_types + 1, np.zeros(len(neg), dtype=np.int64)])
    clf = LogisticRegression(C=c, max_iter=300, random_state=seed).fit(x, y)
    coef, inter = class_weights(clf, num_types + 1)
    return (coef[1:] - coef[0]).T.astype(np.float32), (inter[1:] - inter[0]).astype(np.float32)


def _hog_views(samples: list[Sample], flip: bool) -> tuple[list[np.ndarray], np.ndarray]:
    """(HOG grids, canonical keypoints (N, K, 3)) of each sample's canonical view and, with ``flip``, of
    its mirror image: another training person, with left and right exchanged."""
    grids, kps = [], []
    flip_index = LSP14.flip_index
    for s in samples:
        small, kp, _ = canonical_view(s)
        grids.append(hog_grid(small))
        kps.append(kp)
        if flip:
            mirrored = kp[flip_index].copy()
            mirrored[:, 0] = small.shape[1] - 1 - mirrored[:, 0]
            grids.append(hog_grid(np.ascontiguousarray(small[:, ::-1])))
            kps.append(mirrored)
    return grids, np.stack(kps)


def _sample_windows(grids: list[np.ndarray], cells: np.ndarray, visible: np.ndarray, types: np.ndarray,
                    radius: int, negatives_per_image: int, rng: np.random.Generator):
    """(per joint: positive windows and their types; random negative windows (M, D) and their (image, x, y)
    cells): each visible, typed joint's window inside the grid, and ``negatives_per_image`` random
    windows of every image."""
    k = cells.shape[1]
    pos = [[] for _ in range(k)]
    pos_t = [[] for _ in range(k)]
    neg, neg_cells = [], []
    for i, g in enumerate(grids):
        by, bx, _ = g.shape
        for j in range(k):
            x, y = cells[i, j]
            if visible[i, j] and types[i, j] >= 0 and 0 <= x < bx and 0 <= y < by:
                pos[j].append(window_at(g, y, x, radius))
                pos_t[j].append(types[i, j])
        ys, xs = rng.integers(0, by, negatives_per_image), rng.integers(0, bx, negatives_per_image)
        for y, x in zip(ys, xs):
            neg.append(window_at(g, y, x, radius))
            neg_cells.append((i, x, y))
    return pos, pos_t, np.stack(neg), np.asarray(neg_cells)


def _mine_hard(det: PartDetectors, grid: np.ndarray, cells: np.ndarray, labelled: np.ndarray, hard: list,
               min_neg_dist: float, radius: int) -> None:
    """Append to ``hard[j]`` the windows of the three strongest false detections of joint j on one image
    (``cells``, ``labelled``: that image's (K, 2) joint cells and (K,) labels)."""
    maps = det.score_maps(grid)
    by, bx = maps.shape[1:]
    yy, xx = np.mgrid[0:by, 0:bx]
    for j in range(len(cells)):
        if not labelled[j]:
            continue
        x, y = cells[j]
        wrong = np.maximum(np.abs(xx - x), np.abs(yy - y)) >= min_neg_dist
        s = np.where(wrong, maps[j], -np.inf).reshape(-1)
        for flat in np.argsort(-s)[:3]:  # the three strongest false detections
            if s[flat] > -1.0:
                hard[j] = np.concatenate([hard[j], window_at(grid, flat // bx, flat % bx, radius)[None]])


def train_parts(samples: list[Sample], parents: np.ndarray, num_types: int = 4, radius: int = 2,
                negatives_per_image: int = 12, min_neg_dist: float = 2.0, max_negatives: int = 12000,
                hard_rounds: int = 1, hard_images: int = 400, c: float = 0.1, flip: bool = True, seed: int = 0,
                log=print) -> tuple[PartDetectors, dict]:
    """Train the part detectors on single-person ``samples`` (module docstring). Returns the detectors
    and a summary (counts, seconds, the canonical keypoints for the springs)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    grids, kps = _hog_views(samples, flip)
    log(f"  HOG of {len(samples)} images{' and their mirror images' if flip else ''}: "
        f"{time.perf_counter() - t0:.0f} s")
    k = kps.shape[1]
    visible = kps[:, :, 2] >= 2
    labelled = kps[:, :, 2] > 0
    offsets = reference_offsets(kps, parents)
    ref = np.asarray(parents).copy()
    root = int(np.flatnonzero(ref < 0)[0])
    ref[root] = int(np.flatnonzero(np.asarray(parents) == root)[-1])
    usable = labelled & labelled[:, ref]
    types, centres = cluster_types(offsets, usable, num_types, seed)
    cells = np.rint(pixel_to_block(kps[:, :, :2])).astype(np.int64)  # (N, K, 2) x, y grid cells
    pos, pos_t, neg, neg_cells = _sample_windows(grids, cells, visible, types, radius, negatives_per_image, rng)
    hard = [np.zeros((0, neg.shape[1]), np.float32) for _ in range(k)]
    filters = np.zeros((neg.shape[1], k * num_types), np.float32)
    bias = np.zeros(k * num_types, np.float32)

    def fit_all() -> None:
        for j in range(k):
            far = np.abs(neg_cells[:, 1:] - cells[neg_cells[:, 0], j]).max(1) >= min_neg_dist
            idx = np.flatnonzero(far | ~labelled[neg_cells[:, 0], j])
            if len(idx) > max_negatives:
                idx = rng.choice(idx, max_negatives, replace=False)
            w, b = _fit(np.stack(pos[j]), np.asarray(pos_t[j]), np.concatenate([neg[idx], hard[j]]), num_types,
                        c, seed)
            filters[:, j * num_types:(j + 1) * num_types] = w
            bias[j * num_types:(j + 1) * num_types] = b

    fit_all()
    log(f"  fit: {time.perf_counter() - t0:.0f} s")
    det = PartDetectors(filters, bias, num_types, radius, centres.astype(np.float32))
    for _ in range(hard_rounds):
        for i in rng.choice(len(grids), min(hard_images, len(grids)), replace=False):
            _mine_hard(det, grids[i], cells[i], labelled[i], hard, min_neg_dist, radius)
        fit_all()
        log(f"  hard negatives {sum(len(h) for h in hard)}, refit: {time.perf_counter() - t0:.0f} s")
    summary = {"images": len(samples), "mirrored": flip, "radius": radius, "types": num_types,
               "positives": int(sum(len(p) for p in pos)), "random_negatives": len(neg),
               "hard_negatives": int(sum(len(h) for h in hard)), "seconds": round(time.perf_counter() - t0, 1)}
    return det, summary
