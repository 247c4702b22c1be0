"""Poselet-conditioned pictorial structures (``pcps``; Pishchulin, Andriluka, Gehler & Schiele, "Poselet
Conditioned Pictorial Structures", CVPR 2013).

The tree model of :mod:`.pictorial` keeps its part appearance and its exact MAP inference; what changes
is that each edge's spring is chosen *per image* from mid-level evidence:

1. **Poselets**: for each part group (torso, upper body, legs, each arm, each leg) the training
   configurations of its joints at the canonical scale, centred on the group's mean joint, are clustered
   by k-means; each cluster is a poselet (a typical look of that body region).
2. **Poselet detectors**: per group, one multinomial logistic regression {background, poselet 1..P} on
   HOG windows of the image at half the canonical resolution (8 px cells, so a window covers the group),
   positives at the group centre, random negatives away from it. An image's **poselet response
   vector** = the best log-odds of every poselet over the image.
3. **Spring mixtures**: per edge, the training offsets child - parent are clustered (k-means, E
   components) and each component keeps its own Gaussian spring.
4. **Conditioning**: per edge, a multinomial logistic regression from the (standardised) poselet response
   vector to the edge's spring component, trained on images *not* used to train the poselet detectors (so
   it sees the responses a test image produces, not training-set responses). At test time each edge
   uses the spring of its predicted component; inference is the same tree DP.

Departures from the paper: translation-only springs (the paper's parts are rotated, with poselet-
conditioned *rotation* priors; here orientation is in the part types of :mod:`.parts` and in the spring
components' mean offsets); 42 poselets from 7 hand-chosen groups instead of ~1,000 from all part
subsets; the unary conditioning (poselet-predicted absolute part positions) is left out; HOG part
detectors with logistic regression instead of the shape-context / AdaBoost parts of the paper; one
hard decision per edge (the most probable component) rather than the paper's classifier over mixtures
evaluated jointly.
"""

from __future__ import annotations

import time

import numpy as np

from posekit.classic.features import hog_grid, pixel_to_block, rescale, window_at, windows
from posekit.classic.parts import canonical_view, class_weights
from posekit.classic.pictorial import PictorialStructures
from posekit.classic.tree import Springs
from posekit.types import Sample

#: part groups over LSP-14 (indices): torso, upper body, legs, right/left arm, right/left leg
GROUPS: tuple[tuple[int, ...], ...] = (
    (2, 3, 8, 9, 12, 13),
    (6, 7, 8, 9, 10, 11, 12, 13),
    (0, 1, 2, 3, 4, 5),
    (6, 7, 8),
    (9, 10, 11),
    (0, 1, 2),
    (3, 4, 5),
)
GROUP_RADIUS = (4, 4, 4, 3, 3, 3, 3)  # window half-size in coarse blocks (8 px at the canonical scale)
COARSE = 0.5  # poselet features: the canonical image at half resolution


class PoseletConditionedPS(PictorialStructures):
    """The ``pcps`` predictor: :class:`PictorialStructures` whose springs follow the poselet responses.

    poselets: per group ``{"joints", "radius", "filters" (D, P), "bias" (P,)}``.
    mixture_mx/my/wx/wy: (K, E) the spring components of every edge (grid cells, canonical scale).
    coef (K, E, R), intercept (K, E), resp_mean / resp_std (R,): the per-edge component classifiers
    over the R poselet responses.
    """

    def __init__(self, base: PictorialStructures, poselets: list[dict], mixtures: dict, classifier: dict) -> None:
        super().__init__(base.parts, base.parents, base.springs, base.scales, base.unary_weight, base.strength,
                         base.skeleton, base.type_springs, base.use_types)
        self.poselets = poselets
        self.mixtures = {k: np.asarray(v, dtype=np.float64) for k, v in mixtures.items()}
        self.classifier = {k: np.asarray(v, dtype=np.float64) for k, v in classifier.items()}

    def responses(self, small: np.ndarray) -> np.ndarray:
        """(R,) poselet response vector of an image at a canonical-scale guess (module docstring)."""
        return poselet_responses(self.poselets, hog_grid(rescale(small, COARSE)))

    def components(self, small: np.ndarray) -> np.ndarray:
        """(K,) predicted spring component of every edge (the root's entry is unused)."""
        c = self.classifier
        r = (self.responses(small) - c["resp_mean"]) / c["resp_std"]
        logits = np.einsum("ker,r->ke", c["coef"], r) + c["intercept"]
        return logits.argmax(1)

    def image_springs(self, small: np.ndarray, grid: np.ndarray) -> Springs:
        comp = self.components(small)
        k = np.arange(len(comp))
        m = self.mixtures
        return Springs(m["mx"][k, comp], m["my"][k, comp], m["wx"][k, comp], m["wy"][k, comp])

    def state(self) -> dict:
        out = super().state()
        out.update({"poselets": self.poselets, "mixtures": self.mixtures, "classifier": self.classifier})
        return out

    @classmethod
    def from_state(cls, state: dict) -> PoseletConditionedPS:
        poselets = [{"joints": np.asarray(p["joints"]), "radius": int(p["radius"]),
                     "filters": np.asarray(p["filters"], np.float32), "bias": np.asarray(p["bias"], np.float32)}
                    for p in state["poselets"]]
        return cls(PictorialStructures.from_state(state), poselets, state["mixtures"], state["classifier"])


def poselet_responses(poselets: list[dict], coarse_grid: np.ndarray) -> np.ndarray:
    """(R,) the best log-odds over the grid of every poselet of every group (in group order)."""
    out = []
    for p in poselets:
        s = windows(coarse_grid, p["radius"]) @ p["filters"] + p["bias"]
        out.append(s.max(axis=0))
    return np.concatenate(out)


def _coarse_views(samples: list[Sample]) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """(canonical images, coarse HOG grids, canonical keypoints (N, K, 3))."""
    smalls, grids, kps = [], [], []
    for s in samples:
        small, kp, _ = canonical_view(s)
        smalls.append(small)
        grids.append(hog_grid(rescale(small, COARSE)))
        kps.append(kp)
    return smalls, grids, np.stack(kps)


def train_poselets(samples: list[Sample], per_group: int = 6, negatives_per_image: int = 6, c: float = 0.1,
                   seed: int = 0) -> list[dict]:
    """Cluster each group's configurations and train its poselet detectors (module docstring, 1-2)."""
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    _, grids, kps = _coarse_views(samples)
    labelled = kps[:, :, 2] > 0
    out = []
    for joints, radius in zip(GROUPS, GROUP_RADIUS):
        joints = np.asarray(joints)
        use = np.flatnonzero(labelled[:, joints].all(1))
        centre = kps[use][:, joints, :2].mean(1)  # canonical px
        config = (kps[use][:, joints, :2] - centre[:, None]).reshape(len(use), -1)
        labels = KMeans(per_group, n_init=3, random_state=seed).fit(config).labels_
        cells = np.rint(pixel_to_block((centre + 0.5) * COARSE - 0.5)).astype(np.int64)
        pos, y, neg = [], [], []
        for i, cell, lab in zip(use, cells, labels):
            g = grids[i]
            by, bx, _ = g.shape
            if 0 <= cell[0] < bx and 0 <= cell[1] < by:
                pos.append(window_at(g, cell[1], cell[0], radius))
                y.append(lab + 1)
            for _ in range(negatives_per_image):
                ny, nx = rng.integers(0, by), rng.integers(0, bx)
                if max(abs(nx - cell[0]), abs(ny - cell[1])) >= 2:
                    neg.append(window_at(g, ny, nx, radius))
        x = np.concatenate([np.stack(pos), np.stack(neg)])
        t = np.concatenate([np.asarray(y), np.zeros(len(neg), dtype=np.int64)])
        clf = LogisticRegression(C=c, max_iter=300, random_state=seed).fit(x, t)
        coef, inter = class_weights(clf, per_group + 1)
        out.append({"joints": joints, "radius": radius, "filters": (coef[1:] - coef[0]).T.astype(np.float32),
                    "bias": (inter[1:] - inter[0]).astype(np.float32)})
    return out


def spring_mixtures(poses: np.ndarray, labelled: np.ndarray, parents: np.ndarray, components: int = 4,
                    min_var: float = 0.25, seed: int = 0) -> tuple[dict, np.ndarray]:
    """Per edge, k-means of the offsets child - parent (poses (N, K, 2) in grid cells) into ``components``
    Gaussian springs. Returns ({"mx", "my", "wx", "wy"}: (K, E)), the (N, K) component of every
    training pose, -1 where the edge is not labelled)."""
    from sklearn.cluster import KMeans

    n, k, _ = poses.shape
    mix = {name: np.zeros((k, components)) for name in ("mx", "my", "wx", "wy")}
    mix["wx"][:] = mix["wy"][:] = 1.0
    assign = np.full((n, k), -1, dtype=np.int64)
    for ch in range(k):
        p = parents[ch]
        if p < 0:
            continue
        use = np.flatnonzero(labelled[:, ch] & labelled[:, p])
        d = poses[use, ch] - poses[use, p]
        lab = KMeans(components, n_init=3, random_state=seed).fit(d).labels_
        assign[use, ch] = lab
        for e in range(components):
            de = d[lab == e]
            mix["mx"][ch, e], mix["my"][ch, e] = de.mean(0)
            var = np.maximum(de.var(0), min_var)
            mix["wx"][ch, e], mix["wy"][ch, e] = 0.5 / var
    return mix, assign


def condition_on_poselets(base: PictorialStructures, train: list[Sample], poselet_images: int = 1500,
                          classifier_images: int = 1500, per_group: int = 6, components: int = 4, c: float = 1.0,
                          seed: int = 0, log=print) -> tuple[PoseletConditionedPS, dict]:
    """The poselet-conditioned model on top of a trained PS model: poselets and their detectors on
    ``poselet_images`` training images, spring mixtures on all training poses, and the per-edge
    component classifiers on ``classifier_images`` other training images (module docstring)."""
    from sklearn.linear_model import LogisticRegression

    from posekit.classic.features import CANONICAL
    from posekit.types import box_from_keypoints

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(len(train))
    set_a = [train[i] for i in order[:poselet_images]]
    set_b = [train[i] for i in order[poselet_images: poselet_images + classifier_images]]
    poselets = train_poselets(set_a, per_group, seed=seed)
    log(f"  poselet detectors on {len(set_a)} images: {time.perf_counter() - t0:.0f} s")
    # spring mixtures on every training pose, in grid cells at the canonical scale
    poses, labelled = [], []
    for s in train:
        kp = np.asarray(s.people[0].keypoints, dtype=np.float64)
        if (kp[:, 2] > 0).sum() < 4:
            continue
        box = box_from_keypoints(kp)
        f = CANONICAL / max(box[2], box[3], 1.0)
        poses.append(pixel_to_block((kp[:, :2] + 0.5) * f - 0.5))
        labelled.append(kp[:, 2] > 0)
    mixtures, _ = spring_mixtures(np.stack(poses), np.stack(labelled), base.parents, components, seed=seed)
    # component labels of set B (nearest component mean) and its poselet responses
    smalls, grids, kps = _coarse_views(set_b)
    cells = pixel_to_block(kps[:, :, :2])
    resp = np.stack([poselet_responses(poselets, g) for g in grids])
    mean, std = resp.mean(0), resp.std(0) + 1e-6
    z = (resp - mean) / std
    k = len(base.parents)
    coef = np.zeros((k, components, resp.shape[1]))
    inter = np.zeros((k, components))
    accuracy = {}
    for ch in range(k):
        p = base.parents[ch]
        if p < 0:
            continue
        use = (kps[:, ch, 2] > 0) & (kps[:, p, 2] > 0)
        d = cells[use, ch] - cells[use, p]
        centres = np.stack([mixtures["mx"][ch], mixtures["my"][ch]], 1)
        lab = np.argmin(((d[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        clf = LogisticRegression(C=c, max_iter=500, random_state=seed).fit(z[use], lab)
        coef[ch], inter[ch] = class_weights(clf, components)
        accuracy[base.skeleton.joints[ch]] = round(float(clf.score(z[use], lab)), 3)
    classifier = {"coef": coef, "intercept": inter, "resp_mean": mean, "resp_std": std}
    model = PoseletConditionedPS(base, poselets, mixtures, classifier)
    summary = {"poselet_images": len(set_a), "classifier_images": len(set_b), "poselets": per_group * len(GROUPS),
               "groups": [list(map(int, g)) for g in GROUPS], "spring_components": components,
               "classifier_train_accuracy": accuracy, "seconds": round(time.perf_counter() - t0, 1)}
    log(f"  poselet conditioning: {summary['seconds']} s")
    return model, summary
