"""Rewrite the name a stored weights file uses for the network it is built on (one-off, issue 20):
ps_cnn.pt's "base" ("default" -> "grmi-p5-2026-11-29", the exact network it was built on) and deepcut.pt's
"part_detector" (an absolute /work/main/... path -> "paf"). Everything else in the files is kept as loaded."""
import hashlib
import sys

import torch

W = "src/posekit/weights/"


def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


for path, key, new in ((W + "ps_cnn.pt", ("model", "base"), "grmi-p5-2026-11-29"),
                       (W + "deepcut.pt", ("part_detector",), "paf")):
    before = sha(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    d = state
    for k in key[:-1]:
        d = d[k]
    old = d[key[-1]]
    d[key[-1]] = new
    torch.save(state, path)
    print(f"{path}: {'.'.join(key)} {old!r} -> {new!r}; sha256 {before} -> {sha(path)}", file=sys.stdout)
