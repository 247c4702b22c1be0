"""Example composed multi-person scenes (posekit.data.compose), drawn with their labels: keypoints (occluded
joints as hollow rings), silhouette boxes, for N = 1, 2, 4, 8 people at low and high overlap. Writes
composed_scenes.png next to this file.

    python benchmarks/composed_scenes.py            # LSP train people, the 75 backgrounds, seed 0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from posekit.data import load
from posekit.data.compose import SceneComposer, read_backgrounds
from posekit.viz import draw_pose, save_image

HERE = Path(__file__).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = Path(args.data)
    people = load("lsp", data / "lsp", split="train")
    composer = SceneComposer(people, read_backgrounds(data / "backgrounds"))
    tiles = []
    for overlap in ("low", "high"):
        for n in (1, 2, 4, 8):
            scene = composer.compose(n, overlap, seed=args.seed)
            image = scene.image.copy()
            for p in scene.people:
                image = draw_pose(image, p.keypoints, composer.skeleton)
                for x, y, v in p.keypoints:
                    if v == 1:  # occluded by a person pasted later: labelled, drawn as a ring
                        cv2.circle(image, (int(round(x)), int(round(y))), 7, (255, 255, 255), 2)
                x, y, w, h = p.box.astype(int)
                cv2.rectangle(image, (x, y), (x + w, y + h), (0, 255, 255), 1)
            cv2.putText(image, f"N={n}, {overlap} overlap", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
            tiles.append(cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA))
    grid = np.vstack([np.hstack(tiles[:4]), np.hstack(tiles[4:])])
    print(save_image(HERE / "composed_scenes.png", grid))


if __name__ == "__main__":
    main()
