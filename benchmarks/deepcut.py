"""DeepCut (Pishchulin et al. 2016) on this project's part network: fit and save the pairwise model, and
measure how the ILP's cost grows with the number of candidates.

    # fit the unary calibration + pairwise logistic regressions on composed TRAINING scenes (LSP train + LSPet
    # people on the training backgrounds; never LSP test people) and write a DeepCut weights file that names
    # the part network
    python benchmarks/deepcut.py fit --part runs/paf/best.pt --out runs/deepcut/deepcut.pt --scenes 300
    python benchmarks/deepcut.py fit --part runs/paf/best.pt --out runs/deepcut/deepcut_paf.pt --use-paf

    # cost per image on composed scenes of N people (LSP TEST people, validation backgrounds; seeds 1000+)
    python benchmarks/deepcut.py timing --model runs/deepcut/deepcut.pt --people 1 2 4 8 --per-n 6 --compare-paf \
        --json benchmarks/deepcut_timing.json
    # how the ILP grows with the candidates: crowded scenes, the cap raised
    python benchmarks/deepcut.py timing --model runs/deepcut/deepcut.pt --people 8 --overlap low --per-n 3 \
        --max-per-class 12 --max-candidates 32 64 96 128 --json benchmarks/deepcut_scaling.json
    python benchmarks/deepcut.py timing --model runs/deepcut/deepcut.pt --people 8 --overlap high --per-n 3 \
        --max-per-class 12 --max-candidates 32 64 96 --json benchmarks/deepcut_scaling_high.json
    python benchmarks/deepcut.py report      # -> benchmarks/deepcut.md

Everything runs on one CPU thread (``torch.set_num_threads(1)``) unless ``--threads`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench_utils import provenance

from posekit.api import load_model
from posekit.data import load
from posekit.data.compose import SceneComposer, read_backgrounds
from posekit.evaluate import evaluate_oks
from posekit.grouping.deepcut import fit, save_weights, training_images
from posekit.predict.bottomup import BottomUpPredictor
from posekit.types import Person, Sample, box_from_keypoints

HERE = Path(__file__).parent

#: people per training scene: mostly small groups, some crowds (as the PAF network's training scenes)
TRAIN_PEOPLE = (1, 2, 2, 3, 3, 4, 4, 5, 6, 8)


def training_scenes(data: Path, num: int, seed: int):
    """(image, people (K, 3) image pixels) of ``num`` composed training scenes: LSP train + LSPet people on the
    training backgrounds (every 5th background is held out, as posekit train does), low and high overlap."""
    people = load("lsp", data / "lsp", split="train") + load("lspet", data / "lspet")
    backgrounds = [b for i, b in enumerate(read_backgrounds(data / "backgrounds")) if i % 5]
    composer = SceneComposer(people, backgrounds)
    rng = np.random.default_rng(seed)
    for i in range(num):
        n = int(rng.choice(TRAIN_PEOPLE))
        scene = composer.compose(n, ("low", "high")[i % 2], seed=int(rng.integers(2**31)))
        yield scene.image, [p.keypoints for p in scene.people]


def test_scenes(data: Path, n: int, count: int, overlap: str = "low", split: str = "test"):
    """(image, Sample) of composed scenes on the held-out backgrounds: ``split`` "test" = LSP TEST people only
    (PROTOCOLS.md), seeds 1000 + i; "val" = LSP train people (for choosing settings: never test people), seeds
    5000 + i. Each person's OKS area = w x h of their keypoint box enlarged x 1.25 (PROTOCOLS.md)."""
    people = load("lsp", data / "lsp", split="test" if split == "test" else "train")
    backgrounds = [b for i, b in enumerate(read_backgrounds(data / "backgrounds")) if i % 5 == 0]
    composer = SceneComposer(people, backgrounds)
    for i in range(count):
        scene = composer.compose(n, overlap, seed=(1000 if split == "test" else 5000) + i)
        persons = []
        for p in scene.people:
            box = box_from_keypoints(p.keypoints, margin=0.25)
            persons.append(Person(keypoints=p.keypoints, box=p.box, area=float(box[2] * box[3])))
        yield scene.image, Sample(Path(f"scene-{n}-{overlap}-{i}"), composer.skeleton, persons)


def cmd_fit(args: argparse.Namespace) -> None:
    parts = load_model(args.part, backend="torch", flip_test=not args.no_flip)
    if not isinstance(parts, BottomUpPredictor):
        raise SystemExit(f"{args.part} is not a bottom-up part network")
    t0 = time.perf_counter()
    images = training_images(parts, training_scenes(Path(args.data), args.scenes, args.seed),
                             max_per_class=args.max_per_class, max_candidates=args.max_candidates,
                             use_paf=args.use_paf)
    t1 = time.perf_counter()
    model = fit(images, parts.skeleton.num_joints, scale=float(parts.input_size[1]), use_paf=args.use_paf,
                balanced=not args.unbalanced, seed=args.seed)
    t2 = time.perf_counter()
    model["training"].update(part_detector=str(args.part), scenes=args.scenes, seed=args.seed,
                             candidates_seconds=round(t1 - t0, 1), fit_seconds=round(t2 - t1, 1))
    settings = {"max_per_class": args.max_per_class, "max_candidates": args.max_candidates,
                "time_limit": args.time_limit}
    save_weights(args.out, part_reference(args.part, args.out), model, settings)
    tr = model["training"]
    acc = tr["pair_accuracy"][np.isfinite(tr["pair_accuracy"])]
    pairs = (tr["pair_counts"].sum() + np.trace(tr["pair_counts"].sum(-1))) // 2  # symmetric: each pair once
    print(f"{args.scenes} scenes: candidates in {t1 - t0:.0f} s, fit in {t2 - t1:.0f} s; "
          f"unary positives/negatives {tr['unary_counts'].sum(0).tolist()}; ~{int(pairs)} training pairs; "
          f"pairwise training accuracy median {np.median(acc):.3f} (min {acc.min():.3f}) over {len(acc)} class "
          f"pairs -> {args.out}")


def cmd_timing(args: argparse.Namespace) -> None:
    kwargs = {k: v for k, v in (("time_limit", args.time_limit), ("max_per_class", args.max_per_class),
                                ("max_classes", args.max_classes)) if v is not None}
    predictor = load_model(args.model, backend="torch", **kwargs)
    paf = load_model(predictor_part(args.model), backend="torch") if args.compare_paf else None
    rows, ap = [], {}
    caps = args.max_candidates or [predictor.settings["max_candidates"]]
    for n, cap in ((n, cap) for n in args.people for cap in caps):
        predictor.settings["max_candidates"] = cap
        scenes = list(test_scenes(Path(args.data), n, args.per_n, args.overlap, args.split))
        for image, _ in scenes:
            t0 = time.perf_counter()
            found = predictor.predict(image)
            total = time.perf_counter() - t0
            s = dict(predictor.last_stats)
            s.update(people=n, max_candidates=cap, found=len(found), total_seconds=round(total, 3))
            rows.append(s)
            print(f"N={n:2d}: {s['candidates']:3d} candidates, {s['variables']:6d} variables, "
                  f"{s['triangles']:5d} triangles, {s['iterations']:2d} rounds, ILP {s['ilp_seconds']:7.3f} s "
                  f"({s['status']}), image {total:7.3f} s, {len(found)} people found", flush=True)
        if args.compare_paf:  # OKS-AP of both groupings of the same part maps on these scenes
            images, samples = [im for im, _ in scenes], [sm for _, sm in scenes]
            key = f"N={n} cap={cap}"
            ap[key] = {name: evaluate_oks(p, samples, progress=False, images=images)["AP"]
                       for name, p in (("deepcut", predictor), ("paf_greedy", paf))}
            print(f"{key}: OKS-AP DeepCut {ap[key]['deepcut']}, PAF greedy {ap[key]['paf_greedy']} "
                  f"({len(scenes)} scenes)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"model": str(args.model), "settings": predictor.settings,
                                               "command": "python benchmarks/deepcut.py " + " ".join(sys.argv[1:]),
                                               **provenance(),
                                               "overlap": args.overlap, "split": args.split, "rows": rows,
                                               "oks_ap": ap}, indent=1))
        print(f"-> {args.json}")


def cmd_report(args: argparse.Namespace) -> None:
    """benchmarks/deepcut.md from the timing and scaling JSONs: cost per image by N and by candidate cap."""
    timing = json.loads(Path(args.timing).read_text())

    def table(rows: list[dict], key: str) -> list[str]:
        out = [f"| {key} | images | candidates (median / max) | ILP variables (median) | triangles (median) | "
               "ILP s (median / max) | image s (median) | time-limit hits |", "|---|---|---|---|---|---|---|---|"]
        for k in sorted({r[key] for r in rows}):
            sel = [r for r in rows if r[key] == k]
            med = lambda f, sel=sel: float(np.median([r[f] for r in sel]))  # noqa: E731
            out.append(f"| {k} | {len(sel)} | {med('candidates'):.0f} / {max(r['candidates'] for r in sel)} | "
                       f"{med('variables'):.0f} | {med('triangles'):.0f} | {med('ilp_seconds'):.3f} / "
                       f"{max(r['ilp_seconds'] for r in sel):.3f} | {med('total_seconds'):.3f} | "
                       f"{sum(r['status'] != 'optimal' for r in sel)} |")
        return out

    lines = ["# DeepCut: what the partition-and-labeling ILP costs", "",
             "DeepCut (Pishchulin et al. 2016) on this project's PAF network's part maps "
             "(`src/posekit/grouping/`, `DeepCutPredictor` in `src/posekit/predict/deepcut.py`). Every number below is "
             "one CPU thread; the network pass is part of 'image s'.", "",
             f"## By people per image ({timing['overlap']} overlap, {timing.get('split', 'test')} scenes, "
             f"caps {timing['settings']['max_per_class']} per part / {timing['settings']['max_candidates']} "
             f"in all, time limit {timing['settings']['time_limit']} s)", "",
             f"`{timing['command']}` ({timing['date']}, {timing['machine']})", ""]
    lines += table(timing["rows"], "people")
    if timing.get("oks_ap"):
        lines += ["", "OKS-AP on the same scenes (few scenes per N: a smoke figure, not the crowd study), DeepCut "
                  "vs the PAF greedy grouping of the same part maps:", "", "| scenes | DeepCut | PAF greedy |",
                  "|---|---|---|"]
        lines += [f"| {k} | {v['deepcut']} | {v['paf_greedy']} |" for k, v in timing["oks_ap"].items()]
    if Path(args.coco).exists():
        coco = json.loads(Path(args.coco).read_text())
        paf = json.loads(Path(args.coco_paf).read_text())
        m, rt = coco["metrics"], coco["runtime"]
        lines += ["", "## Real photos: COCO-mini val (79 photos, 12 limb joints, no boxes; a test set)", "",
                  f"`{coco['command']}`", "",
                  f"OKS-AP {m['AP']} (AP50 {m['AP50']}); the PAF greedy grouping of the same maps "
                  f"{paf['metrics']['AP']} (AP50 {paf['metrics']['AP50']}; `{paf['command']}`). Median "
                  f"{rt['median_candidates']:.0f} candidates (max {rt['max_candidates']}), ILP median "
                  f"{rt['median_ilp_seconds']} s, max {rt['max_ilp_seconds']} s, {rt['time_limit_hits']} time-limit "
                  "hits."]
    for path in args.scaling:
        scaling = json.loads(Path(path).read_text())
        lines += ["", f"## By candidate cap (N = {scaling['rows'][0]['people']}, {scaling['overlap']} overlap, "
                  f"time limit {scaling['settings']['time_limit']} s)", "",
                  f"`{scaling['command']}` ({scaling['date']})", ""]
        lines += table(scaling["rows"], "max_candidates")
    lines += ["", "The program has one y per candidate pair (D (D - 1) / 2) and up to 3 D-choose-3 transitivity "
              "rows, added lazily; its solve time grows much faster than the candidates, and varies by orders of "
              "magnitude between images of the same size (how ambiguous the pairwise terms are matters more than "
              "D). Past the time limit the best feasible solution is returned and the status says so.", ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"-> {args.out}")


def part_reference(part: str, out: str) -> str:
    """How a DeepCut file names its part network so that it keeps resolving when moved: a zoo name as given
    (``paf``), a file by its path relative to the DeepCut file's folder (load_deepcut tries that)."""
    if not Path(part).exists():
        return part  # a shipped (zoo) name: load_model resolves it
    return os.path.relpath(Path(part).resolve(), Path(out).resolve().parent)


def predictor_part(weights: str) -> str:
    """The part network a DeepCut weights file names (resolved as load_model does)."""
    from posekit.checkpoint import safe_load

    part = Path(safe_load(weights)["part_detector"])
    beside = Path(weights).parent / part
    return str(beside if not part.exists() and beside.exists() else part)  # a zoo name stays a name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets")
    ap.add_argument("--threads", type=int, default=1)
    sub = ap.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="fit and save the unary calibration + pairwise model")
    f.add_argument("--part", required=True, help="the bottom-up part network's checkpoint (e.g. runs/paf/best.pt)")
    f.add_argument("--out", required=True)
    f.add_argument("--scenes", type=int, default=300)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--max-per-class", type=int, default=8)
    f.add_argument("--max-candidates", type=int, default=96)
    f.add_argument("--time-limit", type=float, default=10.0, help="seconds per image stored with the weights")
    f.add_argument("--use-paf", action="store_true", help="add the PAF line integral as a pairwise feature")
    f.add_argument("--unbalanced", action="store_true", help="weight same/different pairs by their share in the "
                   "scenes instead of equally (fit's balanced=False)")
    f.add_argument("--no-flip", action="store_true", help="part maps without the flip test (twice as fast)")
    t = sub.add_parser("timing", help="ILP cost per image against the number of candidates")
    t.add_argument("--model", required=True)
    t.add_argument("--people", type=int, nargs="+", default=[1, 2, 4, 8])
    t.add_argument("--per-n", type=int, default=3)
    t.add_argument("--overlap", default="low", choices=("low", "high"))
    t.add_argument("--split", default="test", choices=("test", "val"),
                   help="test: LSP test people; val: LSP train people (to choose settings)")
    t.add_argument("--time-limit", type=float, default=None)
    t.add_argument("--max-candidates", type=int, nargs="+", default=None, help="caps to measure (default: stored)")
    t.add_argument("--max-per-class", type=int, default=None)
    t.add_argument("--max-classes", type=int, default=None)
    t.add_argument("--compare-paf", action="store_true", help="also OKS-AP of DeepCut and of the PAF greedy grouping")
    t.add_argument("--json", default="")
    r = sub.add_parser("report", help="benchmarks/deepcut.md from the timing and scaling JSONs")
    r.add_argument("--timing", default=str(HERE / "deepcut_timing.json"))
    r.add_argument("--scaling", nargs="+", default=[str(HERE / "deepcut_scaling.json"),
                                                    str(HERE / "deepcut_scaling_high.json")])
    r.add_argument("--coco", default=str(HERE / "deepcut_coco_mini_val.json"), help="a posekit eval --json report")
    r.add_argument("--coco-paf", default=str(HERE / "paf_coco_mini_val.json"),
                   help="the posekit eval --json report of its part network (PAF greedy grouping, same maps)")
    r.add_argument("--out", default=str(HERE / "deepcut.md"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    {"fit": cmd_fit, "timing": cmd_timing, "report": cmd_report}[args.command](args)


if __name__ == "__main__":
    main()
