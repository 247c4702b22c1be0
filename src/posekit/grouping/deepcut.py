"""DeepCut's terms (Pishchulin et al. 2016, Sec. 3): body-part candidates, unary part-class probabilities,
learnt pairwise "same person" probabilities, their fitting, and the whole grouping of one image through the
ILP of :mod:`posekit.grouping.ilp`.

Candidates: the non-maximum-suppressed peaks of each part confidence map above ``threshold`` (3x3 NMS,
:func:`~posekit.codecs.paf.find_peaks`), DARK-refined to sub-pixel, at most ``max_per_class`` per class and
``max_candidates`` in all (the strongest kept) -- DeepCut's ILP grows fast with the candidates (the paper
ran minutes per image), so the caps are what keeps it usable: 8 and 96 by default, i.e. about 6 fully seen
people (measured on one thread, composed 8-person scenes, benchmarks/deepcut.md: 32 candidates solve in
0.03-0.15 s, 64 in 0.1-1.4 s, 96 in 0.3 s typically but one of three ran into the 10 s limit, 128 likewise).
Every candidate carries the value of all C maps at its cell.

Unary: the probability that candidate d is a part of class c is a per-class logistic calibration of map c's
value v there (features v and log v), fitted on training scenes (was a detection of class c within the
matching radius of a ground-truth joint of class c?). A candidate may take its own map's class and up to
``max_classes - 1`` other classes whose probability reaches ``min_unary`` (e.g. the left/right twin): the
labeling the paper's ILP does, restricted. The default at inference is ``max_classes=1`` (keep or suppress
with the own class): measured, a second class makes the program 2-4x larger and its solves hit the time
limit on scenes the one-class program solves in a second, and the geometric terms, which know nothing of a
person holding two parts of one class, let a neck become a spare shoulder.

Pairwise: for a pair of candidates (d, class c), (d', class c'), with c <= c' (d the lower class), the paper's
geometric features of the offset from d to d' in network-input pixels divided by the input height:
dx, dy, distance, angle (atan2(dy, dx)) and their squares, plus both unary probabilities; for c = c' (two
detections of one part class) the offset is taken in absolute value and the probabilities sorted, so the
features do not depend on the order. One logistic regression per unordered class pair (C (C + 1) / 2 of
them) maps standardised features to P(same person). Training pairs: candidates of training scenes that
match a ground-truth joint of the class considered, labelled 1 when both match joints of the same person;
candidates matching nothing are left out (the unary term is what suppresses them).

Optional extra feature (``use_paf``, a departure stated wherever it is used): for class pairs that are a limb
of the part-affinity-field network, the PAF line integral between the two candidates (0 for other pairs).

Departures from the paper: the part detector is this project's PAF network's part confidence maps (the paper
used Fast R-CNN / a dense CNN part detector with its own class probabilities), hence the calibration; offsets
are normalised by the network input's height rather than working at one fixed person scale; each candidate's
classes are restricted as above; training pairs come from composed scenes (PROTOCOLS.md "Multi-person").

A pairwise model is a plain dict of NumPy arrays, numbers and strings (:func:`fit`); ``posekit.classic.io``'s
``to_storable`` makes it a ``torch.save``-able, ``weights_only``-loadable dict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import expit

from posekit.codecs import heatmap_to_input
from posekit.codecs.heatmap import dark_refine
from posekit.codecs.paf import find_peaks
from posekit.grouping.ilp import decode_people, solve_partition_labeling

__all__ = ["FEATURES", "candidates", "fit", "group", "match_candidates", "pair_probabilities",
           "unary_probabilities"]

FEATURES = ("dx", "dy", "dist", "angle", "dx2", "dy2", "dist2", "angle2", "p_lo", "p_hi")


def candidates(heatmaps: np.ndarray, input_size: Sequence[int], heatmap_size: Sequence[int], sigma: float,
               threshold: float = 0.1, max_per_class: int = 8, max_candidates: int = 96
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Part candidates of one image's (K, h, w) confidence maps (module docstring).

    Returns (positions (D, 2) float64 x, y in network-input pixels, classes (D,) int64 the map each peak came
    from, values (D, K) float64 every map's value at the peak's cell), strongest first."""
    K = heatmaps.shape[0]
    pos, cls, vals = [], [], []
    for c in range(K):
        cells = find_peaks(heatmaps[c], threshold)
        if len(cells) == 0:
            continue
        cells = cells[np.argsort(-heatmaps[c, cells[:, 1], cells[:, 0]], kind="stable")[:max_per_class]]
        sub = dark_refine(heatmaps[c:c + 1], cells, sigma, index=np.zeros(len(cells), np.int64))
        pos.append(heatmap_to_input(sub, tuple(input_size), tuple(heatmap_size)))
        cls.append(np.full(len(cells), c, np.int64))
        vals.append(heatmaps[:, cells[:, 1], cells[:, 0]].T.astype(np.float64))
    if not pos:
        return np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros((0, K))
    pos, cls, vals = np.concatenate(pos), np.concatenate(cls), np.concatenate(vals)
    order = np.argsort(-vals[np.arange(len(cls)), cls], kind="stable")[:max_candidates]
    return pos[order], cls[order], vals[order]


def _unary_features(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 1e-4, None)
    return np.stack([v, np.log(v)], axis=-1)


def unary_probabilities(model: dict, values: np.ndarray) -> np.ndarray:
    """(D, C) calibrated probabilities that each candidate is a part of each class, from the (D, C) map values."""
    f = _unary_features(np.asarray(values, dtype=np.float64))  # (D, C, 2)
    logit = (f * model["unary_coef"][None]).sum(-1) + model["unary_intercept"][None]
    return expit(logit)


def allowed_classes(classes: np.ndarray, unary: np.ndarray, max_classes: int = 2, min_unary: float = 0.1
                    ) -> np.ndarray:
    """(D, C) bool: each candidate's own class, plus its likeliest other classes reaching ``min_unary``, up to
    ``max_classes`` in all."""
    D, C = unary.shape
    allowed = np.zeros((D, C), bool)
    allowed[np.arange(D), classes] = True
    others = np.where(allowed, -np.inf, unary)
    for _ in range(max(0, max_classes - 1)):
        best = others.argmax(1) if C else np.zeros(D, np.int64)
        ok = others[np.arange(D), best] >= min_unary
        allowed[np.arange(D)[ok], best[ok]] = True
        others[np.arange(D), best] = -np.inf
    return allowed


def _pair_features(xy_a: np.ndarray, xy_b: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, same: np.ndarray,
                   scale: float) -> np.ndarray:
    """(P, len(FEATURES)) features of P pairs, a of the lower class (module docstring); ``same`` (P,) bool:
    both of one class (then symmetric in a and b)."""
    d = (xy_b - xy_a) / scale
    d = np.where(same[:, None], np.abs(d), d)
    dist = np.hypot(d[:, 0], d[:, 1])
    angle = np.arctan2(d[:, 1], d[:, 0])
    lo, hi = np.where(same, np.minimum(p_a, p_b), p_a), np.where(same, np.maximum(p_a, p_b), p_b)
    return np.stack([d[:, 0], d[:, 1], dist, angle, d[:, 0] ** 2, d[:, 1] ** 2, dist ** 2, angle ** 2, lo, hi], 1)


def _pairs(allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (a, ca, b, cb) of two different candidates a != b with allowed classes, ca <= cb, each unordered
    candidate pair and class assignment once (as four (P,) arrays)."""
    d, c = np.nonzero(allowed)
    ia, ib = np.meshgrid(np.arange(len(d)), np.arange(len(d)), indexing="ij")
    ia, ib = ia.ravel(), ib.ravel()
    keep = (d[ia] < d[ib])
    ia, ib = ia[keep], ib[keep]
    a, ca, b, cb = d[ia], c[ia], d[ib], c[ib]
    swap = ca > cb  # the lower class first
    return np.where(swap, b, a), np.where(swap, cb, ca), np.where(swap, a, b), np.where(swap, ca, cb)


def pair_probabilities(model: dict, positions: np.ndarray, unary: np.ndarray, allowed: np.ndarray,
                       paf_score: Callable | None = None) -> np.ndarray:
    """(D, D, C, C) probabilities that candidate d as class c and d' as class c' are one person (symmetric;
    0.5 -- no preference, cost 0 -- where a class is not allowed). positions (D, 2) network-input pixels,
    unary (D, C) from :func:`unary_probabilities`, allowed (D, C). ``paf_score(ca, cb, xy_a, xy_b) -> (P,)``:
    the PAF line-integral feature, needed when the model was fitted with ``use_paf``."""
    D, C = unary.shape
    out = np.full((D, D, C, C), 0.5)
    if D < 2:
        return out
    a, ca, b, cb = _pairs(allowed)
    if len(a) == 0:
        return out
    f = _features(model, positions, unary, a, ca, b, cb, paf_score)
    z = ((f - model["mean"][ca, cb]) / model["std"][ca, cb] * model["coef"][ca, cb]).sum(1) + model["intercept"][ca, cb]
    p = expit(z)
    out[a, b, ca, cb] = p
    out[b, a, cb, ca] = p
    return out


def _features(model: dict, positions, unary, a, ca, b, cb, paf_score) -> np.ndarray:
    f = _pair_features(positions[a], positions[b], unary[a, ca], unary[b, cb], ca == cb, float(model["scale"]))
    if model.get("use_paf"):
        if paf_score is None:
            raise ValueError("this pairwise model was fitted with the PAF feature: pass paf_score")
        f = np.concatenate([f, paf_score(ca, cb, positions[a], positions[b])[:, None]], axis=1)
    return f


def match_candidates(positions: np.ndarray, people: Sequence[np.ndarray], radii: Sequence[float],
                     num_classes: int) -> np.ndarray:
    """(D, C) int64: for each candidate and class, the ground-truth person whose joint of that class is nearest
    and within that person's radius, -1 when none. positions (D, 2) and people (N of (C, 3), v > 0 labelled)
    in the same pixels; radii (N,) in those pixels."""
    D = len(positions)
    if not len(people) or D == 0:
        return -np.ones((D, int(num_classes)), np.int64)
    kp = np.stack([np.asarray(p, dtype=np.float64) for p in people])  # (N, C, 3)
    N, C, _ = kp.shape
    dist = np.linalg.norm(positions[:, None, None, :] - kp[None, :, :, :2], axis=-1)  # (D, N, C)
    dist = np.where((kp[None, :, :, 2] > 0) & (dist <= np.asarray(radii, dtype=np.float64)[None, :, None]),
                    dist, np.inf)
    best = dist.argmin(1)  # (D, C)
    return np.where(np.isfinite(dist.min(1)), best, -1).astype(np.int64)


def fit(images: Sequence[dict], num_classes: int, scale: float, max_classes: int = 2, min_unary: float = 0.1,
        max_pairs: int = 20000, regularization: float = 1.0, use_paf: bool = False, balanced: bool = True,
        seed: int = 0) -> dict:
    """Fit the unary calibration and the pairwise logistic regressions (module docstring).

    images: one dict per training image: "positions" (D, 2), "classes" (D,), "values" (D, C) from
        :func:`candidates`, "match" (D, C) from :func:`match_candidates`, and with ``use_paf`` a "paf_score"
        callable as :func:`pair_probabilities` takes.
    scale: the offset normaliser (the network input's height, pixels). max_classes, min_unary: the class
        restriction used at inference (the training pairs are drawn the same way). max_pairs: at most this many
        pairs per class pair (drawn at random). regularization: scikit-learn's C (inverse L2 strength).
    balanced: weight same- and different-person pairs equally in each regression (a 50/50 prior: the pairwise
        log-odds become likelihood ratios) instead of the training scenes' share of each (crowded scenes have
        far more different-person pairs, which biases every regression towards "cut"). Chosen on validation
        scenes (LSP train people, held-out backgrounds, 8 per N, a step-1000 part network): OKS-AP 28.4 / 27.5 /
        30.9 balanced vs 9.5 / 24.7 / 33.3 not for N = 1 / 2 / 4 -- unbalanced terms split single people.
    Returns the model dict: "num_classes", "scale", "use_paf", "features", "unary_coef" (C, 2),
    "unary_intercept" (C,), "mean" / "std" / "coef" (C, C, F), "intercept" (C, C), "training" (counts and
    training accuracies).
    """
    C = int(num_classes)
    uc, ui, unary_counts = _fit_unary(images, C, regularization)
    model = {"num_classes": C, "scale": float(scale), "use_paf": bool(use_paf),
             "features": list(FEATURES) + (["paf"] if use_paf else []), "unary_coef": uc, "unary_intercept": ui}
    per = _training_pairs(model, images, max_classes, min_unary)
    pairwise, pair_counts, accuracy = _fit_pairwise(per, C, len(model["features"]), max_pairs, regularization,
                                                    balanced, np.random.default_rng(seed))
    model.update(**pairwise,
                 training={"images": len(images), "unary_counts": np.asarray(unary_counts, np.int64),
                           "pair_counts": pair_counts, "pair_accuracy": accuracy,
                           "max_classes": int(max_classes), "min_unary": float(min_unary)})
    return model


def _fit_unary(images: Sequence[dict], C: int, regularization: float) -> tuple[np.ndarray, np.ndarray, list]:
    """(coef (C, 2), intercept (C,), [positives, negatives] per class) of the unary calibration: every
    candidate's value of map c, against "is it a part of class c" (a class with one label only gets the
    smoothed log positive rate as a constant)."""
    from sklearn.linear_model import LogisticRegression

    uc, ui, unary_counts = np.zeros((C, 2)), np.zeros(C), []
    for c in range(C):
        v = np.concatenate([im["values"][:, c] for im in images]) if images else np.zeros(0)
        y = np.concatenate([im["match"][:, c] >= 0 for im in images]) if images else np.zeros(0, bool)
        unary_counts.append([int(y.sum()), int((~y).sum())])
        if y.all() or not y.any():
            ui[c] = np.log((y.sum() + 1) / ((~y).sum() + 1))  # a constant: the smoothed positive rate
            continue
        lr = LogisticRegression(C=regularization, max_iter=500).fit(_unary_features(v), y)
        uc[c], ui[c] = lr.coef_[0], lr.intercept_[0]
    return uc, ui, unary_counts


def _training_pairs(model: dict, images: Sequence[dict], max_classes: int, min_unary: float
                    ) -> dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]]:
    """Per class pair (c1, c2): chunks of (pair features, same person?) of the matched candidates each image
    allows (the class restriction of inference, with the unary calibration of ``model``)."""
    C = model["num_classes"]
    per: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = {}
    for im in images:
        unary = unary_probabilities(model, im["values"])
        allowed = allowed_classes(im["classes"], unary, max_classes, min_unary)
        allowed &= im["match"] >= 0  # only true parts teach "same person"
        a, ca, b, cb = _pairs(allowed)
        if len(a) == 0:
            continue
        f = _features(model, im["positions"], unary, a, ca, b, cb, im.get("paf_score"))
        y = im["match"][a, ca] == im["match"][b, cb]
        key = ca * C + cb
        for k in np.unique(key):
            sel = key == k
            per.setdefault((int(k) // C, int(k) % C), []).append((f[sel], y[sel]))
    return per


def _fit_pairwise(per: dict, C: int, F: int, max_pairs: int, regularization: float, balanced: bool,
                  rng: np.random.Generator) -> tuple[dict, np.ndarray, np.ndarray]:
    """({"mean", "std", "coef", "intercept"} of the pairwise logistic regressions, one per class pair,
    kept symmetric; pair counts (C, C, 2); training accuracies (C, C)) from :func:`_training_pairs`' chunks,
    at most ``max_pairs`` pairs per class pair (drawn with ``rng``)."""
    from sklearn.linear_model import LogisticRegression

    mean, std = np.zeros((C, C, F)), np.ones((C, C, F))
    coef, intercept = np.zeros((C, C, F)), np.zeros((C, C))
    pair_counts, accuracy = np.zeros((C, C, 2), np.int64), np.full((C, C), np.nan)
    for (c1, c2), chunks in per.items():
        f = np.concatenate([x for x, _ in chunks])
        y = np.concatenate([t for _, t in chunks])
        if len(y) > max_pairs:
            pick = rng.choice(len(y), max_pairs, replace=False)
            f, y = f[pick], y[pick]
        mu, sd = f.mean(0), f.std(0)
        sd = np.where(sd > 1e-9, sd, 1.0)
        pair_counts[c1, c2] = pair_counts[c2, c1] = (int(y.sum()), int((~y).sum()))
        for i, j in {(c1, c2), (c2, c1)}:
            mean[i, j], std[i, j] = mu, sd
        if y.all() or not y.any():
            intercept[c1, c2] = intercept[c2, c1] = np.log((y.sum() + 1) / ((~y).sum() + 1))
            continue
        lr = LogisticRegression(C=regularization, max_iter=1000, class_weight="balanced" if balanced else None)
        lr.fit((f - mu) / sd, y)
        for i, j in {(c1, c2), (c2, c1)}:
            coef[i, j], intercept[i, j] = lr.coef_[0], lr.intercept_[0]
        accuracy[c1, c2] = accuracy[c2, c1] = float(lr.score((f - mu) / sd, y))
    return {"mean": mean, "std": std, "coef": coef, "intercept": intercept}, pair_counts, accuracy


def group(heatmaps: np.ndarray, model: dict, input_size: Sequence[int], heatmap_size: Sequence[int], sigma: float,
          threshold: float = 0.1, max_per_class: int = 8, max_candidates: int = 96, max_classes: int = 1,
          min_unary: float = 0.1, time_limit: float = 10.0, min_parts: int = 3, paf_score: Callable | None = None
          ) -> tuple[list[tuple[np.ndarray, float]], dict]:
    """DeepCut on one image's (K, h, w) part maps: candidates -> unary and pairwise probabilities -> the ILP ->
    people.

    Returns (people [(keypoints (K, 3) x, y, score in network-input pixels, person score)] best first -- see
    :func:`~posekit.grouping.ilp.decode_people` -- , stats {"candidates", "variables", "constraints",
    "triangles", "iterations", "status", "ilp_seconds", "seconds"} so that callers can show how slow it is)."""
    t0 = time.perf_counter()
    # offsets in units of this input's height, whatever input the model was fitted at (the network input is
    # the letterboxed image, so that is a fraction of the image at any input size)
    model = {**model, "scale": float(input_size[1])}
    pos, cls, vals = candidates(heatmaps, input_size, heatmap_size, sigma, threshold, max_per_class, max_candidates)
    unary = unary_probabilities(model, vals)
    allowed = allowed_classes(cls, unary, max_classes, min_unary)
    pairwise = pair_probabilities(model, pos, unary, allowed, paf_score)
    sol = solve_partition_labeling(unary, pairwise, allowed, time_limit=time_limit)
    people = decode_people(pos, unary, sol.labels, sol.clusters, heatmaps.shape[0], min_parts)
    stats = {"candidates": int(len(pos)), "variables": sol.num_variables, "constraints": sol.num_constraints,
             "triangles": sol.triangles, "iterations": sol.iterations, "status": sol.status,
             "ilp_seconds": round(sol.seconds, 4), "seconds": round(time.perf_counter() - t0, 4)}
    return people, stats


def paf_feature(codec, pafs: np.ndarray, num_samples: int = 10) -> Callable:
    """The optional PAF pairwise feature for one image: ``paf_score(ca, cb, xy_a, xy_b) -> (P,)``, the line
    integral (:meth:`~posekit.codecs.paf.PAFCodec.limb_score`) of limb (ca, cb)'s field from the class-``ca``
    candidate to the class-``cb`` one (the limb's direction respected), 0 for class pairs that are no limb.
    codec: the network's :class:`~posekit.codecs.paf.PAFCodec`; pafs (L, 2, h, w); positions in input pixels."""
    limbs = {(int(a), int(b)): (i, 1) for i, (a, b) in enumerate(codec.limbs)}
    limbs.update({(int(b), int(a)): (i, -1) for i, (a, b) in enumerate(codec.limbs)})
    pafs = np.asarray(pafs, dtype=np.float64)

    def score(ca: np.ndarray, cb: np.ndarray, xy_a: np.ndarray, xy_b: np.ndarray) -> np.ndarray:
        out = np.zeros(len(ca))
        key = np.asarray(ca) * 10000 + np.asarray(cb)
        for k in np.unique(key):
            hit = limbs.get((int(k) // 10000, int(k) % 10000))
            if hit is None:
                continue
            sel = key == k
            li, direction = hit
            start, end = (xy_a[sel], xy_b[sel]) if direction == 1 else (xy_b[sel], xy_a[sel])
            out[sel] = codec.line_integrals(pafs[li], start, end, num_samples)
        return out

    return score


def is_weights(state) -> bool:
    """True for a DeepCut weights file's contents (:func:`save_weights`)."""
    return isinstance(state, dict) and state.get("method") == "deepcut"


def save_weights(path, part_detector: str, pairwise: dict, settings: dict | None = None) -> None:
    """Write a DeepCut weights file: {"method": "deepcut", "part_detector": the part network's checkpoint (a
    path; at load, a relative one is tried against the working directory, then beside this file), "pairwise":
    the :func:`fit` model, "settings": DeepCutPredictor keyword arguments chosen with it}; tensors, numbers,
    strings and plain containers only, so it loads with ``weights_only=True``."""
    from pathlib import Path

    import torch

    from posekit.checkpoint import to_storable

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"method": "deepcut", "part_detector": str(part_detector), "pairwise": to_storable(pairwise),
                "settings": to_storable(dict(settings or {}))}, path)


def training_images(parts, scenes, radius: float = 0.3, min_radius: float = 4.0, threshold: float = 0.1,
                    max_per_class: int = 8, max_candidates: int = 96, use_paf: bool = False) -> list[dict]:
    """The :func:`fit` inputs of fully annotated images: candidates of the part network, matched to the ground truth.

    parts: a :class:`~posekit.predict.bottomup.BottomUpPredictor` (its ``maps``, ``codec``, ``skeleton``; flip test
        as set).
    scenes: iterable of (image uint8 BGR, people: list of (K, 3) x, y, v in image pixels) -- every person of the
        image annotated (composed scenes). radius: a candidate matches a ground-truth joint within
        ``max(min_radius, radius x person_scale)`` network-input pixels (:func:`~posekit.data.silhouette.person_scale`:
        the torso length). threshold, max_per_class, max_candidates: as :func:`candidates` (as at inference).
    """
    from posekit.data.silhouette import person_scale
    from posekit.data.transforms import apply_affine
    from posekit.preprocess import letterbox_matrix, network_input

    out = []
    codec = parts.codec
    for image, people in scenes:
        M = letterbox_matrix(image.shape[1::-1], parts.input_size)
        heatmaps, pafs = parts.maps(network_input(image, M, parts.input_size)[None])
        pos, cls, vals = candidates(heatmaps[0], codec.input_size, codec.heatmap_size, codec.sigma, threshold,
                                    max_per_class, max_candidates)
        moved = []
        for kp in people:
            kp = np.asarray(kp, dtype=np.float64).copy()
            kp[:, :2] = apply_affine(kp[:, :2], M)
            moved.append(kp)
        radii = [max(min_radius, radius * person_scale(kp, parts.skeleton)) for kp in moved]
        item = {"positions": pos, "classes": cls, "values": vals,
                "match": match_candidates(pos, moved, radii, heatmaps.shape[1])}
        if use_paf:
            item["paf_score"] = paf_feature(codec, pafs[0])
        out.append(item)
    return out
