"""Can a higher person threshold make the default say "nobody here" on person-free photos? Measured on
validation data only.

    python benchmarks/person_threshold_tradeoff.py --data ../shared/datasets

The shipped default (``load_model("default")``, backend auto, 1 thread) predicts every image once with
``predict.person_threshold=0``; each threshold t then keeps the people scoring >= t. Per t:

- ``coco_train_ap``: OKS-AP (12 limb joints) on the 80 COCO-mini *train* photos (the AP the threshold costs);
- ``personfree_coco_with_skeleton``: of the COCO-mini train photos with nobody annotated, how many still get
  at least one person;
- ``backgrounds_with_skeleton``: the same on the 15 held-out person-free backgrounds (every 5th of
  ``backgrounds/``: no training run saw them);
- ``heldout_images_without_person``: of the first 200 images the default's training config holds out
  (LSP / LSPet / MPII people, one per image), how many get nobody (their person dropped by the threshold).

Writes ``person_threshold_tradeoff.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from bench_utils import Thresholded, provenance

from posekit.api import load_model
from posekit.config import load_config
from posekit.data import load
from posekit.evaluate import evaluate_oks
from posekit.train_data import load_each_source, split_sources

HERE = Path(__file__).parent
THRESHOLDS = (0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--config", default=str(HERE.parent / "configs/grmi_r18s_lsp+lspet+mpii_160x160.yaml"),
                    help="the default's training config (which images it holds out)")
    ap.add_argument("--out", default=str(HERE / "person_threshold_tradeoff.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = Path(args.data)
    model = Thresholded(load_model("grmi-p5-2026-11-29", overrides=["predict.person_threshold=0.0"], threads=1))
    coco = load("coco", data / "coco_mini", split="train2017")
    person_free = [s.image_path for s in coco if not any((p.keypoints[:, 2] > 0).any() for p in s.people)]
    backgrounds = [p for i, p in enumerate(sorted((data / "backgrounds").iterdir()))
                   if i % 5 == 0 and p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    cfg = load_config(args.config, [f"data.root={args.data}"])
    _, held_out = split_sources(cfg, load_each_source(cfg))
    held_out = [s.image_path for s in held_out[:200]]
    rows = []
    for t in THRESHOLDS:
        model.threshold = t
        row = {"threshold": t, "coco_train_ap": evaluate_oks(model, coco, progress=False)["AP"],
               "personfree_coco_with_skeleton": sum(bool(model.predict(p)) for p in person_free),
               "backgrounds_with_skeleton": sum(bool(model.predict(p)) for p in backgrounds),
               "heldout_images_without_person": sum(not model.predict(p) for p in held_out)}
        rows.append(row)
        print(row, flush=True)
    report = {**provenance(),
              "command": f"python benchmarks/person_threshold_tradeoff.py --data {args.data}",
              "person_free_coco_train_photos": len(person_free), "held_out_backgrounds": len(backgrounds),
              "held_out_person_images": len(held_out),
              "rows": rows}
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
