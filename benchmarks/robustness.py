"""How brittle is a model? PCK@0.2 on LSP test under image corruptions and geometric changes, each at five
severities (PROTOCOLS.md "Robustness"), written to robustness.{json,md} and robustness.png.

    python benchmarks/robustness.py --model default --images 200 --threads 2
    python benchmarks/robustness.py --model default --dataset mpii --threads 2   # PCKh@0.5, MPII photos
    python benchmarks/robustness.py --model default --dataset coco --threads 2   # OKS-AP, COCO-mini val

On the multi-person photo sets (the 245 MPII validation photos at hand, 269 people, each matched to the
nearest returned person; the 79 COCO-mini val photos, OKS-AP on the joints both skeletons share) every
annotated person's keypoints and box move with the image; the occluding patch and truncation are defined
on one person's body and are run on LSP only.

The corruption is applied to the whole test image before the predictor sees it (no ground-truth boxes);
the top-scoring person is scored. Geometric changes (rotation, scale, truncation) move the ground truth with
the image; joints that leave the image are not scored. The occluding patch (a grey square over one joint,
side = severity x torso) leaves the ground truth where it is. Every random draw comes from a generator
seeded by (image index, perturbation, severity), so the table regenerates exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from bench_utils import provenance

from posekit import metrics
from posekit.data import load, with_images
from posekit.data.dataset import read_image
from posekit.data.transforms import apply_affine
from posekit.types import Sample
from posekit.viz import new_figure, save_figure

HERE = Path(__file__).parent
#: perturbations defined on one person's body (a patch over one of its joints, a cut through it): LSP only
SINGLE_PERSON_ONLY = ("occluding_patch", "truncation")
SEVERITIES = {
    "gaussian_noise": (5, 10, 20, 35, 50),  # std, grey levels
    "motion_blur": (3, 7, 11, 15, 21),  # kernel length, px
    "defocus_blur": (1, 2, 3, 5, 7),  # disc radius, px
    "jpeg": (60, 40, 25, 15, 8),  # quality
    "low_light": (1.5, 2.0, 2.5, 3.0, 4.0),  # gamma (darker)
    "contrast": (0.8, 0.6, 0.4, 0.3, 0.2),  # kept share of contrast
    "pixelate": (0.8, 0.6, 0.45, 0.3, 0.2),  # down-sampling factor
    "grayscale": (0.2, 0.4, 0.6, 0.8, 1.0),  # blend towards grey
    "occluding_patch": (0.2, 0.4, 0.6, 0.8, 1.0),  # patch side / torso
    "rotation": (18, 36, 54, 72, 90),  # degrees
    "scale": (0.5, 0.7, 1.4, 2.0, 2.5),  # image resize factor
    "truncation": (0.9, 0.8, 0.7, 0.6, 0.5),  # share of the person's height kept (from the top)
}


def perturb(image: np.ndarray, kp: np.ndarray, kind: str, s: float, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """(perturbed image, ground truth (K, 3) moved with it; joints outside the image get v = 0)."""
    img, gt = image, kp.copy()
    h, w = img.shape[:2]
    if kind == "gaussian_noise":
        img = np.clip(img + rng.normal(0, s, img.shape), 0, 255).astype(np.uint8)
    elif kind == "motion_blur":
        k = np.zeros((int(s), int(s)), np.float32)
        k[int(s) // 2] = 1.0 / s
        M = cv2.getRotationMatrix2D(((s - 1) / 2, (s - 1) / 2), float(rng.uniform(0, 180)), 1.0)
        k = cv2.warpAffine(k, M, (int(s), int(s)))
        img = cv2.filter2D(img, -1, k / max(k.sum(), 1e-6))
    elif kind == "defocus_blur":
        r = int(s)
        k = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
        cv2.circle(k, (r, r), r, 1.0, -1)
        img = cv2.filter2D(img, -1, k / k.sum())
    elif kind == "jpeg":
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(s)])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    elif kind == "low_light":
        img = (255.0 * (img / 255.0) ** s).astype(np.uint8)
    elif kind == "contrast":
        m = img.mean()
        img = np.clip(m + s * (img.astype(np.float32) - m), 0, 255).astype(np.uint8)
    elif kind == "pixelate":
        small = cv2.resize(img, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    elif kind == "grayscale":
        g = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        img = np.clip((1 - s) * img + s * g, 0, 255).astype(np.uint8)
    elif kind == "occluding_patch":
        torso = float(np.linalg.norm(gt[9, :2] - gt[2, :2]))
        j = int(rng.integers(len(gt)))
        side = max(2, int(s * torso))
        x, y = (gt[j, :2] - side / 2).astype(int)
        img = img.copy()
        img[max(0, y):max(0, y + side), max(0, x):max(0, x + side)] = 128
    elif kind == "rotation":
        angle = float(s) * (1 if rng.random() < 0.5 else -1)
        M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
        c, si = abs(M[0, 0]), abs(M[0, 1])
        nw, nh = int(h * si + w * c), int(h * c + w * si)
        M[0, 2] += (nw - w) / 2
        M[1, 2] += (nh - h) / 2
        img = cv2.warpAffine(img, M, (nw, nh), borderValue=(0, 0, 0))
        gt[:, :2] = apply_affine(gt[:, :2], M)
    elif kind == "scale":
        img = cv2.resize(img, (max(1, int(round(w * s))), max(1, int(round(h * s)))),
                         interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        gt[:, :2] = (gt[:, :2] + 0.5) * [img.shape[1] / w, img.shape[0] / h] - 0.5
    elif kind == "truncation":
        y0, y1 = gt[:, 1].min(), gt[:, 1].max()
        cut = int(np.ceil(y0 + s * (y1 - y0)))
        img = img[: max(2, min(h, cut))]
    H, W = img.shape[:2]
    outside = (gt[:, 0] < -0.5) | (gt[:, 0] >= W - 0.5) | (gt[:, 1] < -0.5) | (gt[:, 1] >= H - 0.5)
    gt[outside, 2] = 0
    return np.ascontiguousarray(img), gt


def perturb_sample(sample: Sample, image: np.ndarray, kind: str, s: float, rng: np.random.Generator
                   ) -> tuple[np.ndarray, Sample]:
    """A multi-person photo perturbed: (image, the sample with every person's keypoints, box, area and
    head size moved with the image). Boxes travel as their four corners and come back as the corners'
    extent; areas and head sizes follow the scale change."""
    points = []
    for p in sample.people:
        x, y, w, h = p.box
        points += [p.keypoints, np.array([[x, y, 2], [x + w, y, 2], [x, y + h, 2], [x + w, y + h, 2]], float)]
    img, moved = perturb(image, np.concatenate(points) if points else np.zeros((0, 3)), kind, s, rng)
    f = s if kind == "scale" else 1.0
    people, k = [], 0
    for p in sample.people:
        n = len(p.keypoints)
        kp, corners = moved[k:k + n], moved[k + n:k + n + 4, :2]
        k += n + 4
        lo, hi = corners.min(0), corners.max(0)
        people.append(dataclasses.replace(
            p, keypoints=kp, box=np.concatenate([lo, hi - lo]),
            area=None if p.area is None else p.area * f * f,
            head_size=None if p.head_size is None else p.head_size * f))
    return img, dataclasses.replace(sample, people=people, image_size=None)


def pck_of(predictor, images: list, gts: list, torso: np.ndarray, skeleton) -> float:
    """PCK@0.2 of the top-scoring person; ``torso`` (N,) = the unperturbed person's torso length times the
    image's scale change (so a truncation that cuts off a hip still has its person's torso)."""
    preds = []
    for img in images:
        found = predictor.predict(img)
        preds.append(found[0].keypoints if found else np.zeros((skeleton.num_joints, 3)))
    pred, gt = np.stack(preds), np.stack(gts)
    return 100.0 * float(metrics.pck(pred, gt, torso, alpha=0.2)["mean"])


def sweep(images: list, labels: list, perturb_one, value, skip: tuple[str, ...] = ()) -> dict:
    """{perturbation: [value at each severity]}: every image and its labels perturbed by
    ``perturb_one(image, labels, kind, level, rng)`` -> (image, labels), with a generator seeded by (image
    index, perturbation, severity), then scored by ``value(images, labels, kind, level)``."""
    rows = {}
    for k, (kind, levels) in enumerate(SEVERITIES.items()):
        if kind in skip:
            continue
        rows[kind] = []
        for sev, level in enumerate(levels):
            pairs = [perturb_one(im, lab, kind, level, np.random.default_rng([i, k, sev]))
                     for i, (im, lab) in enumerate(zip(images, labels))]
            rows[kind].append(round(value([p[0] for p in pairs], [p[1] for p in pairs], kind, level), 2))
        print(kind, rows[kind], flush=True)
    return rows


def multi_person(args, predictor) -> tuple[float, dict, str]:
    """(clean value, {perturbation: [value per severity]}, metric name) on MPII photos or COCO-mini val."""
    from posekit.evaluate import evaluate_oks, predict_dataset, score

    data = Path(args.data)
    if args.dataset == "mpii":
        samples = with_images(load("mpii", data / "mpii", split="valid"))
        metric = "PCKh@0.5 (MPII validation photos, nearest returned person)"
    else:
        samples = load("coco", data / "coco_mini", split="val2017")
        metric = "OKS-AP (COCO-mini val, joints shared with the model's skeleton)"
    samples = samples[: args.images] if args.images else samples

    def value(images: list, smp: list) -> float:
        if args.dataset == "mpii":
            pred, gt, heads = predict_dataset(predictor, smp, fmt="mpii", match="nearest", progress=False,
                                              images=images)
            return float(score(pred, gt, predictor.skeleton, heads)["pckh@0.5"])
        return float(evaluate_oks(predictor, smp, progress=False, images=images)["AP"])

    images = [read_image(s.image_path) for s in samples]
    rows = sweep(images, samples, lambda im, smp, kind, level, rng: perturb_sample(smp, im, kind, level, rng),
                 lambda imgs, smp, kind, level: value(imgs, smp), skip=SINGLE_PERSON_ONLY)
    return value(images, samples), rows, metric


def lsp(args, predictor) -> tuple[float, dict, str]:
    """(clean PCK@0.2, {perturbation: [PCK@0.2 per severity]}, metric name) on the first LSP test images."""
    samples = load("lsp", Path(args.data) / "lsp", split="test")[: args.images]
    images = [read_image(s.image_path) for s in samples]
    gts = [s.people[0].keypoints for s in samples]
    torso = metrics.torso_size(np.stack(gts), predictor.skeleton)
    clean = pck_of(predictor, images, gts, torso, predictor.skeleton)

    def value(imgs: list, moved: list, kind: str, level: float) -> float:
        factor = level if kind == "scale" else 1.0  # the torso normaliser follows the image's scale change
        return pck_of(predictor, imgs, moved, torso * factor, predictor.skeleton)

    return clean, sweep(images, gts, perturb, value), "PCK@0.2 (LSP test, whole images, top-scoring person)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="grmi-p5-2026-11-29")
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--dataset", choices=("lsp", "mpii", "coco"), default="lsp",
                    help="lsp: LSP test PCK@0.2; mpii: MPII validation photos PCKh@0.5; coco: COCO-mini val OKS-AP")
    ap.add_argument("--images", type=int, default=None, help="first N images (default: 200 for lsp, all otherwise)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="output stem (default benchmarks/robustness for lsp, "
                    "benchmarks/robustness_<dataset> otherwise)")
    args = ap.parse_args()
    if args.images is None and args.dataset == "lsp":
        args.images = 200
    default_out = HERE / ("robustness" if args.dataset == "lsp" else f"robustness_{args.dataset}")
    args.out = args.out or str(default_out)
    torch.set_num_threads(args.threads)
    from posekit.api import load_model

    predictor = load_model(args.model, device="cpu", backend="torch")
    clean, rows, metric = (lsp if args.dataset == "lsp" else multi_person)(args, predictor)
    summary = {kind: {"pck": v, "mean": round(float(np.mean(v)), 2), "mean_drop": round(clean - float(np.mean(v)), 2)}
               for kind, v in rows.items()}
    command = (f"python benchmarks/robustness.py --model {args.model}"
               + ("" if args.dataset == "lsp" else f" --dataset {args.dataset}")
               + ("" if args.images is None else f" --images {args.images}") + f" --threads {args.threads}"
               + ("" if Path(args.out) == default_out else f" --out {args.out}"))
    report = {"model": args.model, "dataset": args.dataset, "metric": metric, "images": args.images,
              "clean": round(clean, 2), "severities": {k: SEVERITIES[k] for k in rows}, "results": summary,
              **provenance(), "command": command}
    if args.dataset == "lsp":
        report["clean_pck@0.2"] = report["clean"]  # the key the first tables were written with
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    fig = new_figure((9.0, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    for kind, v in rows.items():
        ax.plot(range(1, 6), v, marker="o", label=kind)
    ax.axhline(clean, color="black", linestyle="--", label="clean")
    ax.set_xlabel("severity")
    ax.set_ylabel(metric)
    ax.set_title(f"{args.model}: robustness, {args.dataset}" + (f", first {args.images} images" if args.images else ""))
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, alpha=0.3)
    save_figure(fig, out.with_suffix(".png"))
    lines = [f"Command: `{report['command']}`; {report['machine']}; {report['date']}.", "",
             f"Metric: {metric}. Clean: {report['clean']}.", "",
             "| perturbation | severity 1 | 2 | 3 | 4 | 5 | mean | mean drop |", "|---|---|---|---|---|---|---|---|"]
    for kind, r in summary.items():
        lines.append(f"| {kind} ({', '.join(map(str, SEVERITIES[kind]))}) | " + " | ".join(map(str, r["pck"]))
                     + f" | {r['mean']} | {r['mean_drop']} |")
    out.with_name(out.name + "_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
