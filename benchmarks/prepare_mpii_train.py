"""Gather the MPII training photos named in shared/datasets/README.md ("More real data") into one folder
that ``posekit.data.load("mpii", <out>/mpii_train.csv)`` reads, leaving out every image named in the
validation file ``valid.h5`` (those are the MPII test figures' images).

Bring the two public repositories in first (the project's ``fetch`` look-up tool; commits as the README
names them), then:

    git -C <ORIU_Project mirror> archive HEAD images | tar -x -C /tmp/mpii_src
    git -C <Human-Pose-Estimation mirror> show HEAD:mpii_human_pose.csv > /tmp/mpii_src/mpii_human_pose.csv
    python benchmarks/prepare_mpii_train.py /tmp/mpii_src --out ~/.cache/posekit/data/mpii_train

Writes ``<out>/images/*.jpg`` (hard links or copies) and ``<out>/mpii_train.csv`` (the rows whose image is
present and not in valid.h5), and prints the counts.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
from pathlib import Path

import h5py


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path, help="folder with images/ and mpii_human_pose.csv")
    ap.add_argument("--out", type=Path, default=Path("~/.cache/posekit/data/mpii_train").expanduser())
    ap.add_argument("--valid", type=Path, default=Path("../shared/datasets/mpii/valid.h5"),
                    help="MPII validation annotations: their images are never used for training")
    args = ap.parse_args()
    with h5py.File(args.valid, "r") as f:
        held_out = {n.decode() if isinstance(n, bytes) else str(n) for n in f["imgname"][()]}
    present = {p.name for p in (args.source / "images").iterdir()}
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    with open(args.source / "mpii_human_pose.csv", newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames
        rows = [r for r in reader if r["NAME"] in present and r["NAME"] not in held_out]
    for name in sorted({r["NAME"] for r in rows}):
        dst = args.out / "images" / name
        if not dst.exists():
            try:
                os.link(args.source / "images" / name, dst)
            except OSError:
                shutil.copy2(args.source / "images" / name, dst)
    with open(args.out / "mpii_train.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(present)} images in the source, {len(present & held_out)} of them in valid.h5 (left out); "
          f"{len(rows)} annotated people on {len({r['NAME'] for r in rows})} training images -> {args.out}")


if __name__ == "__main__":
    main()
