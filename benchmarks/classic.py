"""Pictorial structures (``ps``), poselet-conditioned PS (``pcps``) and PS on the default network's heatmaps
(``ps_cnn``): train, tune on validation, score on LSP test, write their rows of the algorithm table.

    python benchmarks/classic.py cache-cnn val|test     # default network's final-crop heatmaps -> runs/classic/
    python benchmarks/classic.py tune-cnn                # springs + strength/floor chosen on validation -> weights
    python benchmarks/classic.py compare-cnn             # codec arg-max vs tree MAP on the cached test heatmaps
    python benchmarks/classic.py train ps|pcps           # HOG part (and poselet) detectors, springs, spring
                                                         # strength chosen on validation -> weights
    python benchmarks/classic.py score ps|pcps|ps_cnn    # the stored eval command's numbers -> benchmarks/algorithms/
    python benchmarks/classic.py bootstrap               # paired bootstrap pcps vs ps, ps_cnn vs default
    python benchmarks/classic.py latency                 # re-time the three rows in one sitting

Data: training = LSP train (1-1000) + LSPet (10,000); validation = 5 % of those images held out with
``posekit.train_data.split_train_val(seed 0)`` (the split of the deep rows); LSP test (1001-2000) is only
scored. One thread throughout (``torch.set_num_threads(1)``, OMP_NUM_THREADS=1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from posekit.api import load_model  # noqa: E402
from posekit.data import load  # noqa: E402
from posekit.data.dataset import read_image  # noqa: E402
from posekit.data.transforms import affine_matrix, box_to_center_scale, warp  # noqa: E402
from posekit.predict.flip import predict_heatmaps
from posekit.train_data import split_train_val  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RUNS = REPO / "runs" / "classic"
DATA_ROOT = Path(os.environ.get("POSEKIT_DATA", REPO.parent / "shared" / "datasets"))
WEIGHTS = REPO / "src" / "posekit" / "weights"  # the zoo's files (posekit.zoo): ps, pcps, ps_cnn
# the exact network ps_cnn is built on, by its zoo name (never "default": the default network will change)
BASE = "grmi-p5-2026-11-29"


def splits() -> tuple[list, list, list]:
    """(train, val, test) samples: LSP train + LSPet split by split_train_val(0.05, seed 0); LSP test."""
    pool = load("lsp", DATA_ROOT / "lsp", split="train") + load("lspet", DATA_ROOT / "lspet")
    train, val = split_train_val(pool, 0.05, 0)
    return train, val, load("lsp", DATA_ROOT / "lsp", split="test")


def gt_array(samples: list) -> np.ndarray:
    """(N, 14, 3) ground truth of single-person samples."""
    return np.stack([s.people[0].keypoints for s in samples]).astype(np.float64)


# ------------------------------------------------------------------------------------------ ps_cnn
def cache_cnn(which: str, limit: int) -> Path:
    """Run the default pipeline on each image; for its top person, store the flip-averaged heatmaps of
    the final crop (the crop of the box predict() returns) and that crop's matrix."""
    torch.set_num_threads(1)
    _, val, test = splits()
    samples = (val if which == "val" else test)[: limit or None]
    base = load_model(BASE, device="cpu", backend="torch")
    aspect = base.input_size[0] / base.input_size[1]
    hms, mats, plain, times = [], [], [], []
    for i, s in enumerate(samples):
        image = read_image(s.image_path)
        t0 = time.perf_counter()
        preds = base.predict(image)
        times.append(time.perf_counter() - t0)
        box = preds[0].box if preds else np.array([0.0, 0.0, image.shape[1], image.shape[0]])
        center, size = box_to_center_scale(box, aspect, base.padding)
        m = affine_matrix(center, size, base.input_size)
        crop = warp(image, m, base.input_size, antialias=True)
        from posekit.preprocess import normalize_image

        hm, _ = predict_heatmaps(base.model, normalize_image(crop)[None], base.skeleton.flip_index)
        hms.append(hm[0].astype(np.float16))
        mats.append(m)
        plain.append(preds[0].keypoints if preds else np.zeros((14, 3)))
        if i % 50 == 0:
            print(f"{which} {i}/{len(samples)} {np.mean(times):.3f} s/img", flush=True)
    RUNS.mkdir(parents=True, exist_ok=True)
    out = RUNS / f"cnn_{which}.npz"
    np.savez_compressed(out, heatmaps=np.stack(hms), mats=np.stack(mats), plain=np.stack(plain),
                        gt=gt_array(samples), seconds=np.asarray(times),
                        paths=np.asarray([str(s.image_path) for s in samples]))
    print(f"-> {out}")
    return out


def decode_cached(cache, decoder) -> np.ndarray:
    """(N, K, 3) image-pixel keypoints from cached final-crop heatmaps, decoded by ``decoder`` (a
    TreeDecoder, or the network's codec when None)."""
    from posekit.data.transforms import apply_affine, invert_affine

    base_codec = cache["codec"]
    out = []
    for hm, m in zip(cache["heatmaps"], cache["mats"]):
        hm = hm.astype(np.float32)[None]
        kp = (base_codec.decode(hm) if decoder is None else decoder.decode(hm))[0]
        kp[:, :2] = apply_affine(kp[:, :2], invert_affine(m))
        out.append(kp)
    return np.stack(out)


def load_cache(which: str) -> dict:
    d = dict(np.load(RUNS / f"cnn_{which}.npz"))
    d["codec"] = load_model(BASE, device="cpu", backend="torch").codec
    return d


def swap_rate(pred: np.ndarray, gt: np.ndarray, skeleton, alpha: float = 0.2) -> float:
    """Fraction of left/right limb joints (shoulders to ankles, wrists...) predicted on the *other* side:
    wrong (error > alpha x torso) yet within alpha x torso of the symmetric joint's ground truth."""
    from posekit import metrics

    torso = metrics.torso_size(gt, skeleton)[:, None]
    flip = skeleton.flip_index
    sided = np.flatnonzero(flip != np.arange(len(flip)))
    err = np.linalg.norm(pred[:, sided, :2] - gt[:, sided, :2], axis=-1)
    err_other = np.linalg.norm(pred[:, sided, :2] - gt[:, flip[sided], :2], axis=-1)
    swapped = (err > alpha * torso) & (err_other <= alpha * torso)
    return float(swapped.mean())


def cnn_springs():
    """Springs in heatmap cells of the default network's crops, from LSP train + LSPet training poses."""
    from posekit.classic.cnn_unaries import crop_poses
    from posekit.classic.tree import LSP14_PARENTS, Springs

    train, _, _ = splits()
    base = load_model(BASE, device="cpu", backend="torch")
    poses, labelled = crop_poses(train, base.codec, base.padding)
    return Springs.fit(poses, np.array(LSP14_PARENTS), labelled), len(poses)


def tune_cnn() -> None:
    """Strength (spring weight, temperature fixed at 1) and floor chosen by PCK@0.2 on validation; the
    choice and the grid are written beside the weights."""
    from posekit.classic.cnn_unaries import TreeDecoder
    from posekit.classic.io import save_classic
    from posekit.classic.tree import LSP14_PARENTS
    from posekit.evaluate import score
    from posekit.predict.classic import TreeDecodingPredictor
    from posekit.skeletons import LSP14

    t0 = time.perf_counter()
    springs, n_poses = cnn_springs()
    val = load_cache("val")
    gt = val["gt"]
    plain = decode_cached(val, None)
    base_pck = score(plain, gt, LSP14)["pck@0.2"]
    print(f"val: {len(gt)} images; codec arg-max PCK@0.2 {base_pck}  swaps {swap_rate(plain, gt, LSP14):.4f}")
    grid = []
    for floor in (1e-3, 1e-2, 5e-2):
        for strength in (0.01, 0.03, 0.1, 0.3, 1.0):
            dec = TreeDecoder(np.array(LSP14_PARENTS), springs, val["codec"], 1.0, strength, floor)
            pred = decode_cached(val, dec)
            r = {"floor": floor, "strength": strength, "pck@0.2": score(pred, gt, LSP14)["pck@0.2"],
                 "swap_rate": swap_rate(pred, gt, LSP14)}
            grid.append(r)
            print(r, flush=True)
    best = max(grid, key=lambda r: r["pck@0.2"])
    base = load_model(BASE, device="cpu", backend="torch")
    dec = TreeDecoder(np.array(LSP14_PARENTS), springs, base.codec, 1.0, best["strength"], best["floor"])
    predictor = TreeDecodingPredictor(base, dec)
    training = {"springs_from": f"{n_poses} training poses (LSP train + LSPet minus validation)",
                "validation_images": int(len(gt)), "validation_codec_pck@0.2": base_pck, "grid": grid,
                "chosen": best, "seconds": round(time.perf_counter() - t0, 1)}
    out = save_classic(WEIGHTS / "ps_cnn.pt", "ps_cnn", predictor.state(BASE), training)
    print(f"chosen {best} -> {out}")


# ------------------------------------------------------------------------------------------ ps / pcps
def canonical_poses(samples: list) -> tuple[np.ndarray, np.ndarray]:
    """Training poses at the canonical scale in HOG grid cells ((N, K, 2), labelled (N, K)), from the
    keypoints alone (each keypoint box scaled to CANONICAL px on its longer side)."""
    from posekit.classic.features import CANONICAL, pixel_to_block
    from posekit.types import box_from_keypoints

    poses, labelled = [], []
    for s in samples:
        kp = np.asarray(s.people[0].keypoints, dtype=np.float64)
        if (kp[:, 2] > 0).sum() < 4:
            continue
        box = box_from_keypoints(kp)
        f = CANONICAL / max(box[2], box[3], 1.0)
        poses.append(pixel_to_block((kp[:, :2] + 0.5) * f - 0.5))
        labelled.append(kp[:, 2] > 0)
    return np.stack(poses), np.stack(labelled)


def scale_ratios(samples: list, quantiles=(0.2, 0.5, 0.8)) -> np.ndarray:
    """Quantiles of keypoint-box longer side / image longer side over LSP training images."""
    import cv2

    from posekit.types import box_from_keypoints

    r = []
    for s in samples:
        if "lspet" in str(s.image_path).lower():
            continue
        h, w = cv2.imread(str(s.image_path), cv2.IMREAD_REDUCED_GRAYSCALE_2).shape[:2]
        box = box_from_keypoints(np.asarray(s.people[0].keypoints, dtype=np.float64))
        r.append(max(box[2], box[3]) / (2 * max(h, w)))
    return np.quantile(np.asarray(r), quantiles)


def train_ps(num_images: int, num_types: int, radius: int = 3, c: float = 0.1, seed: int = 0) -> tuple:
    """Part detectors on ``num_images`` training images (drawn with ``seed``), springs on all training
    poses, scale ratios from LSP train. Returns (PictorialStructures, training summary, train samples)."""
    from posekit.classic.features import CELL
    from posekit.classic.parts import assign_types, reference_offsets, train_parts
    from posekit.classic.pictorial import PictorialStructures
    from posekit.classic.tree import LSP14_PARENTS, Springs

    t0 = time.perf_counter()
    train, _, _ = splits()
    rng = np.random.default_rng(seed)
    subset = [train[i] for i in rng.choice(len(train), min(num_images, len(train)), replace=False)]
    parents = np.array(LSP14_PARENTS)
    parts, summary = train_parts(subset, parents, num_types=num_types, radius=radius, c=c, seed=seed)
    poses, labelled = canonical_poses(train)
    springs = Springs.fit(poses, parents, labelled)
    # every training pose's part types (nearest type centre of its offsets, in px: cells x CELL)
    kp = np.concatenate([poses * CELL, labelled[..., None].astype(float)], axis=-1)
    types = assign_types(reference_offsets(kp, parents), parts.type_centres)
    type_springs = Springs.fit_typed(poses, parents, types, num_types, labelled)
    scales = scale_ratios(train)
    model = PictorialStructures(parts, parents, springs, scales, type_springs=type_springs)
    summary.update({"spring_poses": int(len(poses)), "scales": scales.tolist(),
                    "train_seconds": round(time.perf_counter() - t0, 1), "threads": 1})
    print(f"trained in {summary['train_seconds']} s: {summary}", flush=True)
    return model, summary, train


def tune_ps(model, val: list, strengths=(0.03, 0.1, 0.3, 1.0, 3.0)) -> tuple[dict, list]:
    """Settings chosen by PCK@0.2 on the validation images: the spring strength (unary weight 1) and,
    for ps, one spring per edge vs per (edge, part type); for pcps, "hard" vs "prior" conditioning and
    the prior's weight. Part scores (and poselet type probabilities) of every image and scale are
    computed once."""
    from posekit.classic.features import hog_grid, rescale
    from posekit.evaluate import score
    from posekit.skeletons import LSP14

    pcps = hasattr(model, "type_log_probs")
    cached = []
    for s in val:
        image = read_image(s.image_path)
        per_scale = []
        for factor in model.factors(image):
            small = rescale(image, factor)
            f = np.array([small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]])
            per_scale.append((model.parts.type_scores(hog_grid(small)), f,
                              model.type_log_probs(small) if pcps else None))
        cached.append(per_scale)
    gt = gt_array(val)
    if pcps:
        options = [{"mode": "hard"}] + [{"mode": "prior", "prior_weight": w} for w in (0.3, 1.0, 3.0)]
    else:
        options = [{"use_types": False}] + ([{"use_types": True}] if model.type_springs is not None else [])
    grid = []
    for option in options:
        if pcps:
            model.set_mode(option["mode"], option.get("prior_weight"))
        else:
            model.use_types = option["use_types"]
        for strength in strengths:
            model.strength = strength
            pred = []
            for per_scale in cached:
                solved = []
                for raw, f, logp in per_scale:
                    scores, springs = model.conditioned(raw, logp) if pcps else (raw, None)
                    solved.append((model.solve(scores, springs), f))
                (cells, _, logit), f = max(solved, key=lambda t: t[0][1])
                pred.append(model.keypoints(cells, logit, f))
            pred = np.stack(pred)
            r = {**option, "strength": strength, "pck@0.2": score(pred, gt, LSP14)["pck@0.2"],
                 "swap_rate": swap_rate(pred, gt, LSP14)}
            grid.append(r)
            print(r, flush=True)
    best = max(grid, key=lambda r: r["pck@0.2"])
    if pcps:
        model.set_mode(best["mode"], best.get("prior_weight"))
    else:
        model.use_types = best["use_types"]
    model.strength = best["strength"]
    return best, grid


def train_and_tune(method: str, num_images: int, num_types: int, radius: int, val_images: int,
                   c: float = 0.1) -> None:
    """``ps``: train the part detectors and springs, tune the spring strength, save. ``pcps``: the saved
    ``ps`` model (same parts, so the two rows differ only by the poselet conditioning) conditioned on
    poselets trained here, its strength tuned again, saved; its training time includes the ps model's."""
    from posekit.checkpoint import from_storable, safe_load
    from posekit.classic.io import save_classic
    from posekit.classic.pictorial import PictorialStructures

    if method == "ps":
        model, summary, _ = train_ps(num_images, num_types, radius, c)
    else:
        from posekit.classic.poselets import condition_on_poselets

        stored = safe_load(WEIGHTS / "ps.pt")
        base = PictorialStructures.from_state(from_storable(stored["model"]))
        summary = from_storable(stored["training"])
        summary.pop("grid", None)
        summary.pop("chosen", None)
        train, _, _ = splits()
        model, poselet_summary = condition_on_poselets(base, train, num_images, seed=0)
        summary["poselets"] = poselet_summary
    _, val, _ = splits()
    t0 = time.perf_counter()
    best, grid = tune_ps(model, val[:val_images])
    command = (f"python benchmarks/classic.py train {method} --images {num_images} --val-images {val_images}"
               + (f" --types {num_types} --radius {radius} --c {c}" if method == "ps" else ""))
    summary.update({"validation_images": min(val_images, len(val)), "grid": grid, "chosen": best,
                    "tune_seconds": round(time.perf_counter() - t0, 1),
                    "command": command if method == "ps" else f"{summary.get('command')} && {command}"})
    out = save_classic(WEIGHTS / f"{method}.pt", method, model.state(), summary)
    print(f"chosen {best} -> {out} ({out.stat().st_size / 1e6:.2f} MB)")


# ------------------------------------------------------------------------------------------ scoring
VARIANTS = {
    "ps": "pictorial structures: HOG part-type mixtures (4 per joint, logistic regression) + Gaussian springs "
          "per part type, exact MAP over locations and types by distance transforms, 3-scale search",
    "pcps": "poselet-conditioned PS: the ps model + 42 poselet detectors whose responses give each joint a prior "
            "over its types (= its spring components) (Pishchulin et al. 2013, departures in posekit.classic.poselets)",
    "ps_cnn": "the default network's heatmaps as unaries, exact tree MAP in place of the per-joint arg-max",
}


def record_analysis(key: str, value: dict) -> None:
    """Add one analysis to benchmarks/classic_analysis.json (what benchmarks/classic.md quotes)."""
    from bench_utils import provenance

    path = HERE / "classic_analysis.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = value
    data.update(provenance())
    path.write_text(json.dumps(data, indent=1))
    print(json.dumps(value, indent=1))
    print(f"-> {path}")


def bootstrap_diff(a: np.ndarray, b: np.ndarray, reps: int = 2000, seed: int = 0) -> dict:
    """Paired bootstrap over images of mean(a) - mean(b) for per-image scores a, b (N,): the difference,
    its standard error and 95 % interval (percent points)."""
    rng = np.random.default_rng(seed)
    n = len(a)
    idx = rng.integers(0, n, size=(reps, n))
    diffs = (a[idx] - b[idx]).mean(1)
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return {"diff": round(100 * float((a - b).mean()), 2), "se": round(100 * float(diffs.std()), 2),
            "ci95": [round(100 * float(lo), 2), round(100 * float(hi), 2)]}


def per_image_pck(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N,) fraction of each image's labelled joints within 0.2 x torso (PROTOCOLS.md)."""
    from posekit import metrics
    from posekit.skeletons import LSP14

    torso = metrics.torso_size(gt, LSP14)[:, None]
    ok = (np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1) <= 0.2 * torso) & (gt[..., 2] > 0)
    return ok.sum(1) / np.maximum((gt[..., 2] > 0).sum(1), 1)


def compare_cnn() -> None:
    """Codec arg-max vs tree MAP decoding of the *same* final-crop heatmaps of LSP test (cached), with the
    tuned ps_cnn parameters: PCK@0.2, swap rate, per part, paired bootstrap -> benchmarks/classic_analysis.json."""
    from posekit.checkpoint import from_storable, safe_load
    from posekit.classic.cnn_unaries import TreeDecoder
    from posekit.evaluate import score
    from posekit.skeletons import LSP14

    state = from_storable(safe_load(WEIGHTS / "ps_cnn.pt")["model"])
    from posekit.classic.tree import Springs

    test = load_cache("test")
    dec = TreeDecoder(state["parents"], Springs.from_dict(state["springs"]), test["codec"], state["temperature"],
                      state["strength"], state["floor"])
    gt = test["gt"]
    strong = TreeDecoder(state["parents"], Springs.from_dict(state["springs"]), test["codec"], state["temperature"],
                         1.0, state["floor"])
    out = {}
    # the third decoding is a sensitivity check of the write-up (springs 100x the chosen strength), not a choice
    for name, decoder in (("codec_argmax", None), ("tree_map", dec), ("tree_map_strength_1", strong)):
        pred = decode_cached(test, decoder)
        m = score(pred, gt, LSP14)
        out[name] = {"pck@0.2": m["pck@0.2"], "pcp": m["pcp"], "per_part": m["per_part"],
                     "swap_rate": round(100 * swap_rate(pred, gt, LSP14), 2), "per_image": per_image_pck(pred, gt)}
    out["tree_minus_argmax"] = bootstrap_diff(out["tree_map"].pop("per_image"), out["codec_argmax"]["per_image"])
    out["strength_1_minus_argmax"] = bootstrap_diff(out["tree_map_strength_1"].pop("per_image"),
                                                    out["codec_argmax"].pop("per_image"))
    out["note"] = ("same heatmaps (the default pipeline's final crop of each LSP test image), decoded two ways; "
                   "swap rate = % of left/right joints wrong yet within 0.2 torso of the other side's ground truth")
    record_analysis("ps_cnn_decoding_on_test_heatmaps", out)


def score_method(name: str) -> dict:
    """The stored eval command's numbers for a classic model (posekit eval's own code path), timed, with
    its training summary -> benchmarks/algorithms/<name>.json."""
    from bench_utils import median_ms, save_row

    from posekit.checkpoint import safe_load
    from posekit.evaluate import predict_dataset, score

    torch.set_num_threads(1)
    weights = name  # its zoo name (posekit.zoo), which load_model resolves
    predictor = load_model(weights, device="cpu", backend="torch")
    samples = load("lsp", DATA_ROOT / "lsp", split="test")
    t0 = time.perf_counter()
    pred, gt, heads = predict_dataset(predictor, samples, progress=False)
    seconds = (time.perf_counter() - t0) / len(samples)
    np.save(RUNS / f"pred_{name}.npy", pred)
    m = score(pred, gt, predictor.skeleton, heads)
    training = safe_load(WEIGHTS / f"{name}.pt")["training"]
    image = read_image(samples[0].image_path)
    row = {
        "name": name, "method": name, "variant": VARIANTS[name], "weights": str(weights),
        "pck@0.2": m["pck@0.2"], "per_joint": m["per_joint"], "per_part": m["per_part"], "pcp": m["pcp"],
        "pcp_per_limb": m["pcp_per_limb"], "auc": m["auc"], "pck_curve": m["pck_curve"],
        "swap_rate": round(100 * swap_rate(pred, gt, predictor.skeleton), 2),
        "params": None, "gflops": None, "train_images_per_s": None, "train_steps": None,
        "train_minutes": round(_train_seconds(name, training) / 60, 1),
        "training": _jsonable(training),
        "best_val_pck@0.2": training["chosen"]["pck@0.2"],
        "seconds_per_image": round(seconds, 3),
        "infer_ms": round(median_ms(lambda: predictor.predict(image), warmup=2, repeats=10), 1),
        "threads": 1,
        "train_command": training.get("command", "python benchmarks/classic.py tune-cnn"),
        "eval_command": f"posekit eval --model {weights} --data lsp:../shared/datasets/lsp --split test",
    }
    row = save_row(row)
    print(f"[{name}] PCK@0.2 {row['pck@0.2']}  PCP {row['pcp']}  AUC {row['auc']}  {seconds:.3f} s/img", flush=True)
    return row


def _train_seconds(name: str, training: dict) -> float:
    if name == "ps_cnn":  # spring fitting + validation grid (the network itself is the shipped default)
        return float(training["seconds"])
    total = float(training.get("train_seconds", 0)) + float(training.get("tune_seconds", 0))
    return total + float(training.get("poselets", {}).get("seconds", 0))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return np.asarray(obj).tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def retime() -> None:
    """Re-measure the classic rows' predict() latency in one sitting (the same machine load for all
    three; the scoring runs' seconds_per_image were measured under whatever else ran then)."""
    from bench_utils import ROWS_DIR, machine, median_ms

    torch.set_num_threads(1)
    image = read_image(load("lsp", DATA_ROOT / "lsp", split="test")[0].image_path)
    for name in VARIANTS:
        path = ROWS_DIR / f"{name}.json"
        if not path.exists():
            continue
        row = json.loads(path.read_text())
        predictor = load_model(row["weights"], device="cpu", backend="torch")
        row.update(infer_ms=round(median_ms(lambda p=predictor: p.predict(image), warmup=3, repeats=20), 1),
                   machine=machine())
        path.write_text(json.dumps(row, indent=1))
        print(f"[{name}] {row['infer_ms']} ms predict()", flush=True)


def bootstrap() -> None:
    """Paired bootstrap over LSP test images of the scored rows' predictions: pcps - ps, and the ps_cnn
    row against the default model's codec decoding (its cached arg-max predictions) ->
    benchmarks/classic_analysis.json."""
    gt = gt_array(load("lsp", DATA_ROOT / "lsp", split="test"))
    preds = {n: np.load(RUNS / f"pred_{n}.npy") for n in ("ps", "pcps", "ps_cnn") if (RUNS / f"pred_{n}.npy").exists()}
    cache = RUNS / "cnn_test.npz"
    if cache.exists():
        preds["default"] = np.load(cache)["plain"]
    out = {}
    for a, b in (("pcps", "ps"), ("ps_cnn", "default")):
        if a in preds and b in preds:
            out[f"{a} - {b}"] = bootstrap_diff(per_image_pck(preds[a], gt), per_image_pck(preds[b], gt))
    record_analysis("paired_bootstrap_pck@0.2", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action")
    parser.add_argument("name", nargs="?")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--images", type=int, default=3000, help="training images for the HOG detectors")
    parser.add_argument("--types", type=int, default=4, help="part types (mixture components) per joint")
    parser.add_argument("--radius", type=int, default=3, help="part window half-size in HOG blocks")
    parser.add_argument("--c", type=float, default=0.1, help="inverse L2 strength of the part detectors' regression")
    parser.add_argument("--val-images", type=int, default=200, help="validation images for tuning")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.action == "cache-cnn":
        cache_cnn(args.name, args.limit)
    elif args.action == "tune-cnn":
        tune_cnn()
    elif args.action == "compare-cnn":
        compare_cnn()
    elif args.action == "score":
        score_method(args.name)
    elif args.action == "bootstrap":
        bootstrap()
    elif args.action == "latency":
        retime()
    elif args.action == "train":
        train_and_tune(args.name, args.images, args.types, args.radius, args.val_images, args.c)
    else:
        sys.exit(f"unknown action {args.action}")


if __name__ == "__main__":
    main()
