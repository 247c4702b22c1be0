"""How brittle is a model? PCK@0.2 on LSP test under image corruptions and geometric changes, each at five
severities (PROTOCOLS.md "Robustness"), written to robustness.{json,md} and robustness.png.

    python benchmarks/robustness.py --model default --images 200 --threads 2

The corruption is applied to the whole test image before the predictor sees it (no ground-truth boxes);
the top-scoring person is scored. Geometric changes (rotation, scale, truncation) move the ground truth with
the image; joints that leave the image are not scored. The occluding patch (a grey square over one joint,
side = severity x torso) leaves the ground truth where it is. Every random draw comes from a generator
seeded by (image index, perturbation, severity), so the table regenerates exactly.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import cv2
import numpy as np
import torch
from bench_utils import machine

from posekit import metrics
from posekit.data import load
from posekit.data.dataset import read_image
from posekit.data.transforms import apply_affine
from posekit.viz import new_figure, save_figure

HERE = Path(__file__).parent
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


def pck_of(predictor, images: list, gts: list, torso: np.ndarray, skeleton) -> float:
    """PCK@0.2 of the top-scoring person; ``torso`` (N,) = the unperturbed person's torso length times the
    image's scale change (so a truncation that cuts off a hip still has its person's torso)."""
    preds = []
    for img in images:
        found = predictor.predict(img)
        preds.append(found[0].keypoints if found else np.zeros((skeleton.num_joints, 3)))
    pred, gt = np.stack(preds), np.stack(gts)
    return 100.0 * float(metrics.pck(pred, gt, torso, alpha=0.2)["mean"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--images", type=int, default=200, help="first N LSP test images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "robustness"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from posekit.infer import load_model

    predictor = load_model(args.model, device="cpu")
    samples = load("lsp", Path(args.data) / "lsp", split="test")[: args.images]
    images = [read_image(s.image_path) for s in samples]
    gts = [s.people[0].keypoints for s in samples]
    torso = metrics.torso_size(np.stack(gts), predictor.skeleton)
    clean = pck_of(predictor, images, gts, torso, predictor.skeleton)
    rows = {}
    for k, (kind, levels) in enumerate(SEVERITIES.items()):
        rows[kind] = []
        for sev, level in enumerate(levels):
            pairs = [perturb(im, g, kind, level, np.random.default_rng([i, k, sev]))
                     for i, (im, g) in enumerate(zip(images, gts))]
            factor = level if kind == "scale" else 1.0
            value = pck_of(predictor, [p[0] for p in pairs], [p[1] for p in pairs], torso * factor, predictor.skeleton)
            rows[kind].append(round(value, 2))
        print(kind, rows[kind], flush=True)
    summary = {kind: {"pck": v, "mean": round(float(np.mean(v)), 2), "mean_drop": round(clean - float(np.mean(v)), 2)}
               for kind, v in rows.items()}
    report = {"model": args.model, "images": len(samples), "clean_pck@0.2": round(clean, 2),
              "severities": SEVERITIES, "results": summary, "machine": machine(),
              "date": datetime.date.today().isoformat(),
              "command": f"python benchmarks/robustness.py --model {args.model} --images {args.images} "
                         f"--threads {args.threads}"
                         + ("" if Path(args.out) == HERE / "robustness" else f" --out {args.out}")}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    fig = new_figure((9.0, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    for kind, v in rows.items():
        ax.plot(range(1, 6), v, marker="o", label=kind)
    ax.axhline(clean, color="black", linestyle="--", label="clean")
    ax.set_xlabel("severity")
    ax.set_ylabel("PCK@0.2 (LSP test, whole images)")
    ax.set_title(f"{args.model}: robustness, first {len(samples)} LSP test images")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, alpha=0.3)
    save_figure(fig, out.with_suffix(".png"))
    lines = [f"Command: `{report['command']}`; {report['machine']}; {report['date']}.", "",
             f"Clean PCK@0.2 on these {len(samples)} images: {report['clean_pck@0.2']}.", "",
             "| perturbation | severity 1 | 2 | 3 | 4 | 5 | mean | mean drop |", "|---|---|---|---|---|---|---|---|"]
    for kind, r in summary.items():
        lines.append(f"| {kind} ({', '.join(map(str, SEVERITIES[kind]))}) | " + " | ".join(map(str, r["pck"]))
                     + f" | {r['mean']} | {r['mean_drop']} |")
    out.with_name(out.name + "_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
