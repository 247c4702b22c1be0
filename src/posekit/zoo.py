"""The model zoo: every model posekit advertises, by name -> its weights file in the package, sha256, size,
licence, task, skeleton and the headline figure with the command that reproduces it.

    posekit.zoo.resolve("paf")      # Path to src/posekit/weights/paf.pt, its sha256 checked once per process
    posekit.zoo.get("paf").metric   # "COCO-mini val OKS-AP 3.38 (no boxes)"
    print(posekit.zoo.format_table(posekit.zoo.entries()))

Every figure is copied from ``benchmarks/`` (the file the entry's ``source`` names), never measured here.
This module imports nothing from posekit: it sits at the bottom of the import graph.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"

TOP_DOWN, BOTTOM_UP, DETECTOR, CLASSIC = "top-down pose", "bottom-up pose", "person detector", "classic pose"
MIT = "MIT"  # trained by this project on research-use datasets (README, "Licence")


@dataclass(frozen=True)
class ZooEntry:
    name: str
    task: str  # TOP_DOWN | BOTTOM_UP | DETECTOR | CLASSIC
    skeleton: str
    file: str  # inside the package: src/posekit/weights/<file>
    sha256: str
    size: int  # bytes
    licence: str
    description: str
    metric: str  # the headline figure, as benchmarks/ reports it
    command: str  # the command that reproduces it (from the repository root)
    source: str  # where the figure is written

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


_LSP = "--data lsp:../shared/datasets/lsp --split test"
_REAL = "python benchmarks/real_photos.py --model grmi-p5-2026-11-29 --threads 2 --backend onnxruntime"

ENTRIES: tuple[ZooEntry, ...] = (
    ZooEntry("default", TOP_DOWN, "coco19", "grmi-coco19-2026-12-02.pt",
             "1527cbfb3441ad7030b0542ca256f3b640fa299991402cc3eff7c06058ad0167", 6315251, MIT,
             "the shipped pipeline: YOLOX-nano person detector + G-RMI pose network answering COCO-17 and LSP-14 "
             "(coco19), fine-tuned on real COCO photos; settings chosen on validation",
             "COCO person test OKS-AP 27.89 (17 keypoints, no boxes; box-area OKS); LSP test PCK@0.2 75.54",
             "python benchmarks/coco_person.py --model default --split test --coco <prepared COCO person folder>",
             "benchmarks/default_coco19.md"),
    ZooEntry("detector", DETECTOR, "-", "detector.pt",
             "d22ccc61484c4f966bac5480da42f0c284d53e19f51d147e2c7ac5c2cee9ea02", 6535151, MIT,
             "CenterNet person detector, round 2 (step 1000), calibrated scores; default's first stage",
             "COCO-mini val box AP 6.09, AP@.5 10.27", _REAL, "README.md, benchmarks/real_photos.md"),
    ZooEntry("yolox-nano", DETECTOR, "-", "yolox-nano.onnx",
             "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14", 3660092, "Apache-2.0",
             "YOLOX-nano (Megvii), COCO-trained, 416 px, ONNX Runtime; off-the-shelf detector stage "
             "(weights/yolox-nano.NOTICE.txt)",
             "COCO box AP 25.8 over all 80 classes (Megvii's figure, not measured here)",
             "posekit predict photo.jpg --set predict.detector=yolox-nano --set predict.detector_threshold=0.1",
             "src/posekit/weights/yolox-nano.NOTICE.txt"),
    ZooEntry("grmi-coco19-2026-12-02", TOP_DOWN, "coco19", "grmi-coco19-2026-12-02.pt",
             "1527cbfb3441ad7030b0542ca256f3b640fa299991402cc3eff7c06058ad0167", 6315251, MIT,
             "grmi-p5-2026-11-29 fine-tuned onto coco19 on LSP + LSPet + real COCO photos (today's default: same file)",
             "COCO person test OKS-AP 27.89 (17 keypoints, no boxes); LSP test PCK@0.2 75.54 (as default: same file)",
             "python benchmarks/coco_person.py --model grmi-coco19-2026-12-02 --split test",
             "benchmarks/default_coco19.md"),
    ZooEntry("grmi-p5-2026-11-29", TOP_DOWN, "lsp14", "grmi-p5-2026-11-29.pt",
             "45ec56280d524428ecb3ab5d7ef3d4c4652e3c25a842462f18a40df57db72b8d", 6310395, MIT,
             "the G-RMI pose network (LSP-14) + posekit's CenterNet: the default until 2026-12-02; ps_cnn and paf "
             "are built on it",
             "LSP test PCK@0.2 80.14; COCO-mini val OKS-AP 11.87",
             _REAL, "benchmarks/real_photos.md"),
    ZooEntry("simplebaseline-lsp-2026-11-26", TOP_DOWN, "lsp14", "simplebaseline-lsp-2026-11-26.pt",
             "c903d23c4935bc8d54fb658eb7f541f344f390099343064aa6381f3636370a3d", 6305663, MIT,
             "the previous default: LSP-only SimpleBaseline (phase 3), no detector; start of the detector",
             "LSP test PCK@0.2 80.61",
             "python benchmarks/default_model.py --model simplebaseline-lsp-2026-11-26 --train-log "
             "runs/default/metrics.jsonl --train-log runs/default160/metrics.jsonl --train-log "
             "runs/default_p3/metrics.jsonl --config configs/simplebaseline_r18s_lsp+lspet_160x160.yaml --threads 1",
             "benchmarks/default_model.md"),
    ZooEntry("paf", BOTTOM_UP, "lsp14", "paf.pt",
             "5c69a34a8a013afe0f417835420d4aaac8afd89b14b10a56c20e2fb4b193d910", 6854603, MIT,
             "Part Affinity Fields, round 2, 320 px input; every person of an image at once",
             "COCO-mini val OKS-AP 3.38 (no boxes)",
             "posekit eval --model paf --backend torch --threads 1 --data coco:../shared/datasets/coco_mini "
             "--split val2017 --json benchmarks/paf_coco_mini_val.json", "benchmarks/paf_coco_mini_val.json"),
    ZooEntry("deepcut", BOTTOM_UP, "lsp14", "deepcut.pt",
             "b8e60f7ba66630fb05f207f7b980fd2585ebbb8041bc53f97159be57c019502e", 57673, MIT,
             "DeepCut ILP grouping of paf's part maps (fitted unary/pairwise terms; needs paf)",
             "COCO-mini val OKS-AP 3.27 (no boxes)",
             "posekit eval --model deepcut --backend torch --threads 1 --data coco:../shared/datasets/coco_mini "
             "--split val2017 --json benchmarks/deepcut_coco_mini_val.json", "benchmarks/deepcut_coco_mini_val.json"),
    ZooEntry("ps", CLASSIC, "lsp14", "ps.pt",
             "a9c4c3e7b2df6a7b688e9aefbf8ad1916be93e644095a6f6e5ea071947f59d1f", 403101, MIT,
             "pictorial structures: HOG part-type mixtures + Gaussian springs, exact tree MAP",
             "LSP test PCK@0.2 28.26", f"posekit eval --model ps {_LSP}", "benchmarks/classic.md"),
    ZooEntry("pcps", CLASSIC, "lsp14", "pcps.pt",
             "352de19d7d91ce375629812ffcdd03d4f497929a67f5564c9188423318f51c9c", 810285, MIT,
             "poselet-conditioned pictorial structures (ps + 42 poselet detectors)",
             "LSP test PCK@0.2 34.38", f"posekit eval --model pcps {_LSP}", "benchmarks/classic.md"),
    ZooEntry("ps_cnn", CLASSIC, "lsp14", "ps_cnn.pt",
             "3d39b1bf19fa8888daffbbf77be2a68456b28d3c3421cf78225a115a300cabb5", 4110, MIT,
             "tree MAP on grmi-p5-2026-11-29's heatmaps in place of its per-joint arg-max",
             "LSP test PCK@0.2 80.44", f"posekit eval --model ps_cnn {_LSP}", "benchmarks/classic.md"),
    ZooEntry("hourglass", TOP_DOWN, "lsp14", "hourglass.pt",
             "7e7525adb0ef5064ff7ff401d3395de4b6486807a0b83c6faf536196f6d12df9", 846449, MIT,
             "Stacked Hourglass, 2 stacks x 64, intermediate supervision (20 CPU-min budget)",
             "LSP test PCK@0.2 49.44", f"posekit eval --model hourglass {_LSP}", "benchmarks/algorithms.md"),
    ZooEntry("hrnet", TOP_DOWN, "lsp14", "hrnet.pt",
             "dbadfd70e65fd46f432bda6151dcd558842c5cfbba693aab47ede9e71e5e3073", 2662027, MIT,
             "HRNet-W16 (20 CPU-min budget)",
             "LSP test PCK@0.2 53.29", f"posekit eval --model hrnet {_LSP}", "benchmarks/algorithms.md"),
    ZooEntry("deeppose", TOP_DOWN, "lsp14", "deeppose.pt",
             "d0100f199ecb3e9a38e1ef621a6abbf89534899c618e0a00cb1a0731b8add340", 8586450, MIT,
             "DeepPose regression, stage 1 + 1 cascade stage (20 CPU-min budget)",
             "LSP test PCK@0.2 15.96", f"posekit eval --model deeppose {_LSP}", "benchmarks/algorithms.md"),
    ZooEntry("tompson", TOP_DOWN, "lsp14", "tompson.pt",
             "58a4fa55bc8a26c2e22e1a96901187cc0842c5fd3ab4597a4271bdbdcce5034e", 420599, MIT,
             "Tompson et al.: 2-scale coarse heatmaps + shared fine network (20 CPU-min budget)",
             "LSP test PCK@0.2 29.37", f"posekit eval --model tompson {_LSP}", "benchmarks/algorithms.md"),
)

_BY_NAME = {e.name: e for e in ENTRIES}
_verified: set[str] = set()  # names whose file matched its sha256 in this process


def names() -> list[str]:
    return [e.name for e in ENTRIES]


def entries(task: str | None = None) -> list[ZooEntry]:
    """Every entry, in table order; ``task``: only that task's (e.g. ``zoo.DETECTOR``)."""
    return [e for e in ENTRIES if task is None or e.task == task]


class UnknownModel(FileNotFoundError):
    """A model argument that is neither a file nor a zoo name."""


def get(name: str) -> ZooEntry:
    """The entry called ``name``; an :class:`UnknownModel` error listing the names when there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise UnknownModel(f"no model {name!r}: not a file, and not in the zoo (posekit models lists: "
                           f"{', '.join(names())})") from None


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: str | Path, sha256: str, what: str = "") -> Path:
    """``path`` when its sha256 is ``sha256``, else a ValueError naming both digests."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what or path}: weights file {path} is missing")
    actual = sha256_file(path)
    if actual != sha256:
        raise ValueError(f"{what or path}: {path} has sha256 {actual}, expected {sha256}: the file was changed "
                         "or damaged; restore it (git checkout / reinstall posekit) or load a path explicitly")
    return path


def resolve(name: str) -> Path:
    """The weights file of the zoo model ``name``, its sha256 checked the first time per process."""
    entry = get(name)
    if name not in _verified:
        verify(entry.path, entry.sha256, f"zoo model {name!r}")
        _verified.add(name)
    return entry.path


def pinned(name_or_path: str | Path, sha256: str = "") -> Path:
    """The file a zoo name or a path names (``model.init_weights``), checked against ``sha256`` when given
    (``model.init_sha256``): a config starts from exactly the file it names, or fails before training."""
    name = str(name_or_path)
    path = get(name).path if name in _BY_NAME else Path(name)
    if sha256:
        verify(path, sha256, f"init weights {name!r}")
    return path


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def format_table(rows: list[ZooEntry] | tuple[ZooEntry, ...]) -> str:
    """The plain-text table ``posekit models`` prints: one line per entry, then each headline's command."""
    head = ("name", "task", "skeleton", "size", "licence", "headline metric", "sha256")
    lines = [(e.name, e.task, e.skeleton, _size(e.size), e.licence, e.metric, e.sha256[:12]) for e in rows]
    widths = [max(len(r[i]) for r in [head, *lines]) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head).rstrip(), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*r).rstrip() for r in lines]
    out += ["", "reproduce:"] + [f"  {e.name}: {e.command}" for e in rows]
    return "\n".join(out)
