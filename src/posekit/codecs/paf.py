"""Part Affinity Field codec (Cao et al. 2017, "Realtime Multi-Person 2D Pose Estimation using Part
Affinity Fields"): bottom-up, all people of an image at once.

``encode``: for every person, a Gaussian confidence map per joint (max-merged over people, as in the
paper) and, for every limb (a, b), a field of unit vectors ``(b - a) / |b - a|`` (x, y components, in
the input-pixel frame) on the cells whose centre lies on the limb: ``0 <= along <= |b - a|`` and
``|across| <= limb_width`` input pixels. Where several people's same limb overlap the vectors are
averaged (sum divided by the number of people covering the cell).

``decode``: joint candidates are the local maxima of each confidence map (3x3 non-maximum
suppression, above ``peak_threshold``) refined to sub-pixel by DARK (:func:`~posekit.codecs.heatmap.
dark_refine`); each candidate pair of a limb is scored by the line integral of the field along the
segment (:meth:`PAFCodec.limb_score`); per limb, in the given limb order, pairs are accepted greedily by
descending score as long as neither end is taken (the paper's bipartite matching relaxed to a greedy
one), and accepted connections sharing a candidate are joined into people. This is the simple
grouping of the paper; :mod:`posekit.grouping` may offer better ones on top of the same fields.

The limb order is the paper's parse over the tree: :func:`tree_limbs` orders a skeleton's limbs
breadth-first from a root joint (the neck, as the paper's tree), each oriented parent -> child, so that
every limb after the first extends a person already started; limbs closing a cycle (LSP-14's torso:
hips, shoulders, neck) come last and can only join fragments (the paper's code's "redundant"
connections). A person's score (:meth:`PAFCodec.decode_scored`) is the paper's code's sum of its joint
candidates' peak values and of the line-integral scores of the connections that assembled it, divided
by its largest possible count (K joints + K - 1 connections), so a complete, confident person scores
about 1 and a fragment less.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posekit.codecs import as_numpy, heatmap_to_input, input_to_heatmap, joint_weights
from posekit.codecs.heatmap import dark_refine, gaussian_heatmaps


def find_peaks(heatmap: np.ndarray, threshold: float) -> np.ndarray:
    """(M, 2) int64 cell (x, y) of the local maxima of one (h, w) map that exceed ``threshold``:
    3x3 non-maximum suppression; on a plateau only the first cell in raster order survives."""
    h, w = heatmap.shape
    pad = np.pad(heatmap, 1, mode="constant", constant_values=-np.inf)
    c = pad[1:-1, 1:-1]
    keep = c > threshold
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dx == 0 and dy == 0:
                continue
            nb = pad[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
            before = dy < 0 or (dy == 0 and dx < 0)  # neighbours earlier in raster order must be beaten
            keep &= (c > nb) if before else (c >= nb)
    ys, xs = np.nonzero(keep)
    return np.stack([xs, ys], axis=1).astype(np.int64)


def tree_limbs(limbs: Sequence[tuple[int, int]], root: int) -> tuple[tuple[int, int], ...]:
    """The limbs ordered and oriented for greedy assembly: a breadth-first search over the limb graph from
    joint ``root`` (neighbours by index) lists each tree limb as (parent, child) when it reaches the child;
    limbs that close a cycle follow, oriented from the joint nearer the root (the lower index at equal
    depth); limbs the search never reaches (a disconnected part) come last as given."""
    limbs = [(int(a), int(b)) for a, b in limbs]
    joints = sorted({j for limb in limbs for j in limb} | {int(root)})
    neighbours: dict[int, list[int]] = {j: [] for j in joints}
    for a, b in limbs:
        neighbours[a].append(b)
        neighbours[b].append(a)
    depth = {int(root): 0}
    queue = [int(root)]
    tree: list[tuple[int, int]] = []
    for parent in queue:  # the list grows while it is walked: a breadth-first search
        for child in sorted(neighbours[parent]):
            if child not in depth:
                depth[child] = depth[parent] + 1
                queue.append(child)
                tree.append((parent, child))
    used = {frozenset(limb) for limb in tree}
    cycles, unreached = [], []
    for a, b in limbs:
        if frozenset((a, b)) in used:
            continue
        used.add(frozenset((a, b)))
        if a in depth and b in depth:
            cycles.append((a, b) if (depth[a], a) <= (depth[b], b) else (b, a))
        else:
            unreached.append((a, b))
    return tuple(tree + cycles + unreached)


def skeleton_limbs(skeleton) -> tuple[tuple[int, int], ...]:
    """A skeleton's limbs in :func:`tree_limbs` order, rooted at the neck (the paper's tree) or, for a
    skeleton without one, its upper neck, thorax or nose, else joint 0."""
    root = next((skeleton.joints.index(n) for n in ("neck", "upper_neck", "thorax", "nose") if n in skeleton.joints),
                0)
    return tree_limbs(skeleton.limbs, root)


def limb_flip(limbs: Sequence[tuple[int, int]], flip_index: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """How the fields of a mirrored image map back: (perm (L,) int64, sign (L,) float32) such that limb
    ``l`` of the original is limb ``perm[l]`` of the mirror (the joints' left/right swapped by
    ``flip_index``), pointing the same way (sign 1) or the other (sign -1). Raises ValueError when a
    limb's mirror is not a limb."""
    index = {(int(a), int(b)): i for i, (a, b) in enumerate(limbs)}
    perm, sign = [], []
    for a, b in limbs:
        fa, fb = int(flip_index[a]), int(flip_index[b])
        if (fa, fb) in index:
            perm.append(index[(fa, fb)])
            sign.append(1.0)
        elif (fb, fa) in index:
            perm.append(index[(fb, fa)])
            sign.append(-1.0)
        else:
            raise ValueError(f"limb ({a}, {b}) mirrors to ({fa}, {fb}), which is not a limb")
    return np.asarray(perm, np.int64), np.asarray(sign, np.float32)


def _bilinear(maps: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Sample (C, h, w) maps at (..., 2) heatmap-cell coordinates (clamped to the grid): (C, ...)."""
    _, h, w = maps.shape
    x = np.clip(xy[..., 0], 0, w - 1)
    y = np.clip(xy[..., 1], 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2) if w > 1 else np.zeros(x.shape, np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2) if h > 1 else np.zeros(y.shape, np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    return (maps[:, y0, x0] * (1 - fx) * (1 - fy) + maps[:, y0, x1] * fx * (1 - fy)
            + maps[:, y1, x0] * (1 - fx) * fy + maps[:, y1, x1] * fx * fy)


class PAFCodec:
    """People <-> (joint confidence maps, part affinity fields).

    input_size: (W, H) of the network input, pixels. heatmap_size: (w, h) of the output maps.
    limbs: L pairs (a, b) of joint indices (e.g. ``skeleton.limbs``); the field points from a to b.
    limb_width: half-width of a limb's band, input pixels (the paper's sigma_l).
    sigma: standard deviation of the joint Gaussians, heatmap cells (also DARK's blur).
    peak_threshold: minimum confidence of a joint candidate.
    paf_threshold, min_fraction: a pair is a candidate connection only if at least ``min_fraction`` of
        the line-integral samples exceed ``paf_threshold`` and its score (with the paper's code's
        distance prior, ``min(0.5 H / |b - a| - 1, 0)``) is positive.
    num_samples: points on the segment for the line integral.
    min_parts: people with fewer joints are dropped.

    ``encode(people)``: list of (K, 3) (x, y, v) input pixels -> ``heatmaps`` (K, h, w) float32,
    ``pafs`` (L, 2, h, w) float32 (x, y components), ``weights`` (K,) and ``paf_weights`` (L,) float32
    (all ones: every channel is supervised everywhere; mask unannotated crowds in the dataset).
    Joints with v = 0 or outside the input get no Gaussian; a limb needs both ends labelled (its field is
    drawn even if an end lies outside the input).
    ``decode(heatmaps, pafs)``: (K, h, w) + (L, 2, h, w) -> list of people, each (K, 3) float64 (x, y,
    score) in input pixels (missing joints all zero), best person first (by the person score of
    :meth:`decode_scored`); with a leading batch dimension N on both -> a list of N such lists.
    """

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        limbs: Sequence[tuple[int, int]],
        limb_width: float,
        sigma: float = 2.0,
        peak_threshold: float = 0.1,
        paf_threshold: float = 0.05,
        min_fraction: float = 0.8,
        num_samples: int = 10,
        min_parts: int = 3,
    ) -> None:
        if limb_width <= 0 or sigma <= 0:
            raise ValueError(f"limb_width and sigma must be positive, got {limb_width}, {sigma}")
        if min(heatmap_size) < 2 or min(input_size) < 1:
            raise ValueError(f"bad sizes: input {input_size}, heatmap {heatmap_size}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.limbs = tuple((int(a), int(b)) for a, b in limbs)
        self.limb_width = float(limb_width)
        self.sigma = float(sigma)
        self.peak_threshold = float(peak_threshold)
        self.paf_threshold = float(paf_threshold)
        self.min_fraction = float(min_fraction)
        self.num_samples = int(num_samples)
        self.min_parts = int(min_parts)
        w, h = self.heatmap_size
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        # (h, w, 2) input-pixel coordinates of the cell centres
        self._centres = heatmap_to_input(np.stack([gx, gy], -1), self.input_size, self.heatmap_size)

    def resized(self, side: int) -> PAFCodec:
        """This codec for a square ``side`` x ``side`` network input (the fully convolutional network's
        whole-image input at inference), maps at the same stride; every other setting kept."""
        stride_x = self.input_size[0] / self.heatmap_size[0]
        stride_y = self.input_size[1] / self.heatmap_size[1]
        if side % stride_x or side % stride_y:
            raise ValueError(f"input side {side} is not a multiple of the maps' stride ({stride_x:g}, {stride_y:g})")
        return PAFCodec((side, side), (int(side / stride_x), int(side / stride_y)), self.limbs, self.limb_width,
                        sigma=self.sigma, peak_threshold=self.peak_threshold, paf_threshold=self.paf_threshold,
                        min_fraction=self.min_fraction, num_samples=self.num_samples, min_parts=self.min_parts)

    def __repr__(self) -> str:
        return (f"PAFCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"limbs={len(self.limbs)}, limb_width={self.limb_width}, sigma={self.sigma})")

    # ------------------------------------------------------------------ encode
    def encode(self, people: Sequence[np.ndarray], num_joints: int | None = None) -> dict[str, np.ndarray]:
        """people: list of (K, 3) arrays (may be empty; then pass ``num_joints``)."""
        if len(people) == 0 and num_joints is None:
            num_joints = 1 + max((max(a, b) for a, b in self.limbs), default=-1)
        k = int(num_joints) if num_joints is not None else len(people[0])
        w, h = self.heatmap_size
        heatmaps = np.zeros((k, h, w), np.float32)
        sums = np.zeros((len(self.limbs), 2, h, w), np.float64)
        counts = np.zeros((len(self.limbs), h, w), np.float64)
        for kp in people:
            kp = np.asarray(kp, dtype=np.float64)
            if kp.shape != (k, 3):
                raise ValueError(f"every person must be ({k}, 3), got {kp.shape}")
            wts = joint_weights(kp, self.input_size)
            on = np.nonzero(wts)[0]
            if len(on):
                g = gaussian_heatmaps(input_to_heatmap(kp[on, :2], self.input_size, self.heatmap_size),
                                      self.heatmap_size, self.sigma)
                heatmaps[on] = np.maximum(heatmaps[on], g)
            labelled = (kp[:, 2] > 0) & np.isfinite(kp[:, :2]).all(1)
            for li, (a, b) in enumerate(self.limbs):
                if not (labelled[a] and labelled[b]):
                    continue
                vec = kp[b, :2] - kp[a, :2]
                length = float(np.hypot(*vec))
                if length < 1e-6:
                    continue
                u = vec / length
                rel = self._centres - kp[a, :2]
                along = rel @ u
                across = rel[..., 0] * u[1] - rel[..., 1] * u[0]
                mask = (along >= 0) & (along <= length) & (np.abs(across) <= self.limb_width)
                sums[li] += u[:, None, None] * mask
                counts[li] += mask
        pafs = (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)
        return {"heatmaps": heatmaps, "pafs": pafs, "weights": np.ones(k, np.float32),
                "paf_weights": np.ones(len(self.limbs), np.float32)}

    # ------------------------------------------------------------------ decode
    def _samples(self, paf: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, num_samples: int) -> np.ndarray:
        """(P, S) dot products of the field with the unit limb direction at S points along each of P
        segments p_a -> p_b (input pixels, (P, 2) each)."""
        vec = p_b - p_a
        norm = np.linalg.norm(vec, axis=-1, keepdims=True)
        u = vec / np.maximum(norm, 1e-9)
        t = np.linspace(0.0, 1.0, num_samples)
        pts = p_a[:, None, :] + t[None, :, None] * vec[:, None, :]  # (P, S, 2) input pixels
        field = _bilinear(paf, input_to_heatmap(pts, self.input_size, self.heatmap_size))  # (2, P, S)
        dots = field[0] * u[:, 0:1] + field[1] * u[:, 1:2]
        return np.where(norm > 1e-9, dots, 0.0)

    def limb_score(self, paf: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, num_samples: int = 10) -> float:
        """The paper's line integral E = mean over ``num_samples`` points u of ``L(p(u)) . (p_b - p_a) /
        |p_b - p_a|``: paf (2, h, w) one limb's field; p_a, p_b (2,) input pixels. 0 for p_a == p_b."""
        pa = np.asarray(p_a, dtype=np.float64).reshape(1, 2)
        pb = np.asarray(p_b, dtype=np.float64).reshape(1, 2)
        return float(self._samples(as_numpy(paf).astype(np.float64), pa, pb, num_samples).mean())

    def line_integrals(self, paf: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, num_samples: int = 10) -> np.ndarray:
        """:meth:`limb_score` of P segments at once: paf (2, h, w), p_a and p_b (P, 2) input pixels -> (P,)."""
        pa = np.asarray(p_a, dtype=np.float64).reshape(-1, 2)
        pb = np.asarray(p_b, dtype=np.float64).reshape(-1, 2)
        if len(pa) == 0:
            return np.zeros(0)
        return self._samples(as_numpy(paf).astype(np.float64), pa, pb, num_samples).mean(axis=1)

    def decode(self, heatmaps: np.ndarray, pafs: np.ndarray) -> list:
        hm, pf = self._check_batch(heatmaps, pafs)
        if hm.ndim == 3:
            return [kp for kp, _ in self._decode_one(hm, pf)]
        return [[kp for kp, _ in self._decode_one(h, p)] for h, p in zip(hm, pf, strict=True)]

    def decode_scored(self, heatmaps: np.ndarray, pafs: np.ndarray) -> list:
        """As :meth:`decode`, each person a pair (keypoints (K, 3), person score): the sum of the person's
        joint peak values (clipped to [0, 1]) and connection scores over K + K - 1, the most a person can
        collect (module docstring)."""
        hm, pf = self._check_batch(heatmaps, pafs)
        if hm.ndim == 3:
            return self._decode_one(hm, pf)
        return [self._decode_one(h, p) for h, p in zip(hm, pf, strict=True)]

    @staticmethod
    def _check_batch(heatmaps, pafs) -> tuple[np.ndarray, np.ndarray]:
        hm, pf = as_numpy(heatmaps), as_numpy(pafs)
        if hm.ndim == 3 and pf.ndim == 4:
            return hm, pf
        if hm.ndim != 4 or pf.ndim != 5 or len(hm) != len(pf):
            raise ValueError(f"expected (N, K, h, w) and (N, L, 2, h, w), got {hm.shape} and {pf.shape}")
        return hm, pf

    def _decode_one(self, heatmaps: np.ndarray, pafs: np.ndarray) -> list[tuple[np.ndarray, float]]:
        k = heatmaps.shape[0]
        w, h = self.heatmap_size
        if heatmaps.shape[1:] != (h, w) or pafs.shape != (len(self.limbs), 2, h, w):
            raise ValueError(f"expected ({k}, {h}, {w}) heatmaps and ({len(self.limbs)}, 2, {h}, {w}) pafs, "
                             f"got {heatmaps.shape} and {pafs.shape}")
        heatmaps = heatmaps.astype(np.float32)
        # candidates per joint: (x, y, score) in input pixels
        cands: list[np.ndarray] = []
        for j in range(k):
            cells = find_peaks(heatmaps[j], self.peak_threshold)
            if len(cells) == 0:
                cands.append(np.zeros((0, 3)))
                continue
            sub = dark_refine(heatmaps[j : j + 1], cells, self.sigma, index=np.zeros(len(cells), np.int64))
            xy = heatmap_to_input(sub, self.input_size, self.heatmap_size)
            cands.append(np.concatenate([xy, heatmaps[j, cells[:, 1], cells[:, 0], None]], axis=1))
        peak = [np.clip(c[:, 2], 0.0, 1.0) for c in cands]  # a peak's share of a person's score

        # people: rows of per-joint candidate indices (-1 = missing) + accumulated score
        people: list[np.ndarray] = []
        scores: list[float] = []
        for li, (a, b) in enumerate(self.limbs):
            ca, cb = cands[a], cands[b]
            if len(ca) == 0 or len(cb) == 0:
                continue
            ia, ib = np.meshgrid(np.arange(len(ca)), np.arange(len(cb)), indexing="ij")
            ia, ib = ia.ravel(), ib.ravel()
            samples = self._samples(pafs[li].astype(np.float64), ca[ia, :2], cb[ib, :2], self.num_samples)
            dist = np.linalg.norm(cb[ib, :2] - ca[ia, :2], axis=1)
            prior = np.minimum(0.5 * self.input_size[1] / np.maximum(dist, 1e-9) - 1.0, 0.0)
            score = samples.mean(axis=1) + prior
            ok = ((samples > self.paf_threshold).mean(axis=1) >= self.min_fraction) & (score > 0)
            used_a, used_b = set(), set()
            for idx in np.nonzero(ok)[0][np.argsort(-score[ok], kind="stable")]:
                i, j = int(ia[idx]), int(ib[idx])
                if i in used_a or j in used_b:
                    continue
                used_a.add(i)
                used_b.add(j)
                self._connect(people, scores, a, b, i, j, float(score[idx]), float(peak[a][i]), float(peak[b][j]), k)

        out = []
        for row, s in zip(people, scores, strict=True):
            if (row >= 0).sum() < self.min_parts:
                continue
            kp = np.zeros((k, 3))
            for j in np.nonzero(row >= 0)[0]:
                kp[j] = cands[j][row[j]]
            out.append((kp, s / max(2 * k - 1, 1)))
        out.sort(key=lambda t: -t[1])
        return out

    @staticmethod
    def _connect(people: list[np.ndarray], scores: list[float], a: int, b: int, i: int, j: int,
                 score: float, peak_i: float, peak_j: float, k: int) -> None:
        """Add the connection (joint a = candidate i, joint b = candidate j; line-integral ``score``, peak
        values ``peak_i``, ``peak_j``) to the people found so far: it starts a person, extends one by its
        new end, or joins two fragments that share no joint; a person's score collects each of its joints'
        peaks once and the scores of the connections that assembled it (not those of a cycle's closing
        limb, which adds no joint)."""
        found = [n for n, row in enumerate(people) if row[a] == i or row[b] == j]
        if not found:
            row = -np.ones(k, np.int64)
            row[a], row[b] = i, j
            people.append(row)
            scores.append(peak_i + peak_j + score)
        elif len(found) == 1:
            row = people[found[0]]
            if row[a] == -1 and row[b] == j:
                row[a] = i
                scores[found[0]] += peak_i + score
            elif row[b] == -1 and row[a] == i:
                row[b] = j
                scores[found[0]] += peak_j + score
        else:
            n1, n2 = found[0], found[1]
            r1, r2 = people[n1], people[n2]
            if not ((r1 >= 0) & (r2 >= 0)).any():  # disjoint parts: the limb joins two fragments
                people[n1] = np.where(r1 >= 0, r1, r2)
                scores[n1] += scores[n2] + score
                del people[n2], scores[n2]
