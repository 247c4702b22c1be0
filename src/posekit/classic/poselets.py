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
3. **Spring mixtures** = the part types of :mod:`.parts`: each joint's training offsets from its parent
   are clustered (k-means) and every cluster (type) has its own Gaussian spring
   (``PictorialStructures.type_springs``).
4. **Conditioning**: per joint, a multinomial logistic regression from the (standardised) poselet
   response vector to the joint's type, trained on images *not* used to train the poselet detectors (so
   it sees the responses a test image produces, not training-set responses). Two uses, chosen on
   validation (``mode``):
   - ``"hard"``: each edge takes the spring of its predicted type (the paper's choice of one pairwise
     component per image); unaries = the best type's score, one spring per edge in the DP;
   - ``"prior"``: the DP runs over locations and types (:func:`~posekit.classic.tree.tree_map_typed`)
     with ``prior_weight * log p(type | poselets)`` added to each type's score, so poselets and local
     appearance decide the spring together.
   Inference stays the exact tree DP in both.

Departures from the paper: translation-only springs (the paper's parts are rotated, with poselet-
conditioned *rotation* priors; here orientation lives in the part types and their springs' mean
offsets); 42 poselets from 7 hand-chosen groups instead of ~1,000 from all part subsets; the unary
conditioning (poselet-predicted absolute part positions) is left out; HOG part detectors with logistic
regression instead of the paper's shape-context / AdaBoost parts; the per-part type classifiers are
logistic regressions on max-pooled poselet responses (the paper pools responses spatially in a grid
around the torso).
"""

from __future__ import annotations

import time

import numpy as np

from posekit.classic.features import hog_grid, pixel_to_block, rescale, window_at, windows
from posekit.classic.parts import assign_types, canonical_view, class_weights, reference_offsets
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

    base: a PS model with per-type springs. poselets: per group ``{"joints", "radius", "filters" (D, P),
    "bias" (P,)}``. classifier: ``coef`` (K, M, R), ``intercept`` (K, M), ``resp_mean`` / ``resp_std``
    (R,): per joint, its type from the R poselet responses (the root's rows unused).
    mode: "hard" or "prior"; prior_weight: the weight of log p(type | poselets) in "prior" mode.
    """

    def __init__(self, base: PictorialStructures, poselets: list[dict], classifier: dict, mode: str = "hard",
                 prior_weight: float = 1.0) -> None:
        if base.type_springs is None:
            raise ValueError("poselet conditioning needs a PS model with per-type springs")
        if mode not in ("hard", "prior"):
            raise ValueError(f"mode must be 'hard' or 'prior', got {mode!r}")
        super().__init__(base.parts, base.parents, base.springs, base.scales, base.unary_weight, base.strength,
                         base.skeleton, base.type_springs, use_types=mode == "prior")
        self.poselets = poselets
        self.classifier = {k: np.asarray(v, dtype=np.float64) for k, v in classifier.items()}
        self.mode = mode
        self.prior_weight = float(prior_weight)

    def responses(self, small: np.ndarray) -> np.ndarray:
        """(R,) poselet response vector of an image at a canonical-scale guess (module docstring)."""
        return poselet_responses(self.poselets, hog_grid(rescale(small, COARSE)))

    def type_log_probs(self, small: np.ndarray) -> np.ndarray:
        """(K, M) log p(type | poselet responses) of every joint (zeros for the root: no edge to condition)."""
        c = self.classifier
        r = (self.responses(small) - c["resp_mean"]) / c["resp_std"]
        logits = np.einsum("kmr,r->km", c["coef"], r) + c["intercept"]
        logits -= logits.max(1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        logp[self.parents < 0] = 0.0
        return logp

    def conditioned(self, type_scores: np.ndarray, logp: np.ndarray) -> tuple[np.ndarray, Springs | None]:
        """(type scores, springs) the DP gets for an image with type log-probabilities ``logp``."""
        if self.mode == "prior":
            return type_scores + self.prior_weight * logp[:, :, None, None], None
        t = logp.argmax(1)
        k = np.arange(len(t))
        ts = self.type_springs
        return type_scores, Springs(ts.mx[k, t], ts.my[k, t], ts.wx[k, t], ts.wy[k, t])

    def unaries_at(self, image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray, Springs | None]:
        small = rescale(image, factor)
        f = np.array([small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]])
        scores, springs = self.conditioned(self.parts.type_scores(hog_grid(small)), self.type_log_probs(small))
        return scores, f, springs

    def set_mode(self, mode: str, prior_weight: float | None = None) -> None:
        self.mode = mode
        self.use_types = mode == "prior"
        if prior_weight is not None:
            self.prior_weight = float(prior_weight)

    def state(self) -> dict:
        out = super().state()
        out.update({"poselets": self.poselets, "classifier": self.classifier, "mode": self.mode,
                    "prior_weight": self.prior_weight})
        return out

    @classmethod
    def from_state(cls, state: dict) -> PoseletConditionedPS:
        poselets = [{"joints": np.asarray(p["joints"]), "radius": int(p["radius"]),
                     "filters": np.asarray(p["filters"], np.float32), "bias": np.asarray(p["bias"], np.float32)}
                    for p in state["poselets"]]
        return cls(PictorialStructures.from_state(state), poselets, state["classifier"], state["mode"],
                   state["prior_weight"])


def poselet_responses(poselets: list[dict], coarse_grid: np.ndarray) -> np.ndarray:
    """(R,) the best log-odds over the grid of every poselet of every group (in group order)."""
    out = []
    for p in poselets:
        s = windows(coarse_grid, p["radius"]) @ p["filters"] + p["bias"]
        out.append(s.max(axis=0))
    return np.concatenate(out)


def _coarse_views(samples: list[Sample]) -> tuple[list[np.ndarray], np.ndarray]:
    """(coarse HOG grids of the canonical images, canonical keypoints (N, K, 3))."""
    grids, kps = [], []
    for s in samples:
        small, kp, _ = canonical_view(s)
        grids.append(hog_grid(rescale(small, COARSE)))
        kps.append(kp)
    return grids, np.stack(kps)


def train_poselets(samples: list[Sample], per_group: int = 6, negatives_per_image: int = 6, c: float = 0.1,
                   seed: int = 0) -> list[dict]:
    """Cluster each group's configurations and train its poselet detectors (module docstring, 1-2)."""
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    grids, kps = _coarse_views(samples)
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


def condition_on_poselets(base: PictorialStructures, train: list[Sample], poselet_images: int = 1500,
                          classifier_images: int = 1500, per_group: int = 6, c: float = 1.0, seed: int = 0,
                          log=print) -> tuple[PoseletConditionedPS, dict]:
    """The poselet-conditioned model on top of a trained PS model with per-type springs: poselets and
    their detectors on ``poselet_images`` training images, the per-joint type classifiers on
    ``classifier_images`` other training images (module docstring)."""
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(len(train))
    set_a = [train[i] for i in order[:poselet_images]]
    set_b = [train[i] for i in order[poselet_images: poselet_images + classifier_images]]
    poselets = train_poselets(set_a, per_group, seed=seed)
    log(f"  poselet detectors on {len(set_a)} images: {time.perf_counter() - t0:.0f} s")
    grids, kps = _coarse_views(set_b)
    types = assign_types(reference_offsets(kps, base.parents), base.parts.type_centres)
    resp = np.stack([poselet_responses(poselets, g) for g in grids])
    mean, std = resp.mean(0), resp.std(0) + 1e-6
    z = (resp - mean) / std
    k, m = len(base.parents), base.parts.num_types
    coef = np.zeros((k, m, resp.shape[1]))
    inter = np.zeros((k, m))
    accuracy = {}
    root = int(np.flatnonzero(base.parents < 0)[0])
    for j in range(k):
        if j == root:
            continue
        p = base.parents[j]
        use = (kps[:, j, 2] > 0) & (kps[:, p, 2] > 0)
        clf = LogisticRegression(C=c, max_iter=500, random_state=seed).fit(z[use], types[use, j])
        coef[j], inter[j] = class_weights(clf, m)
        accuracy[base.skeleton.joints[j]] = round(float(clf.score(z[use], types[use, j])), 3)
    classifier = {"coef": coef, "intercept": inter, "resp_mean": mean, "resp_std": std}
    model = PoseletConditionedPS(base, poselets, classifier)
    summary = {"poselet_images": len(set_a), "classifier_images": len(set_b), "poselets": per_group * len(GROUPS),
               "groups": [list(map(int, g)) for g in GROUPS], "type_classifier_train_accuracy": accuracy,
               "seconds": round(time.perf_counter() - t0, 1)}
    log(f"  poselet conditioning: {summary['seconds']} s")
    return model, summary
