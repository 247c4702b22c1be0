"""The single-person families side by side (DeepPose, Tompson, Stacked Hourglass, HRNet, SimpleBaseline)
and the heatmap losses, each trained by the one loop under the same CPU budget and scored on LSP test
the way users run them (whole images, no ground-truth boxes, PROTOCOLS.md).

    python benchmarks/algorithms.py all                # train + score every variant not done yet
    python benchmarks/algorithms.py train NAME         # one variant (resumes an interrupted run)
    python benchmarks/algorithms.py score NAME         # export its weights, score it, write its row
    python benchmarks/algorithms.py latency            # re-time every row (run with the CPU otherwise idle)
    python benchmarks/algorithms.py report             # algorithms.json + algorithms.md + plots

Equal budget: before training, a 40-step probe measures the variant's training images/s on this machine;
``max_steps`` is then set so the run's cosine schedule ends after ``--budget-min`` minutes. Every run
uses the same data (LSP train + LSPet), the same held-out validation images (``data.val_seed`` 0), the
same augmentation and batch size. The checkpoint kept is the best on validation; LSP test (images
1001-2000) is only scored, never used to choose anything.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from bench_utils import ROWS_DIR, machine, median_ms, save_row, training_summary

from posekit.api import load_model
from posekit.checkpoint import export_checkpoint
from posekit.complexity import count_macs, count_params
from posekit.config import load_config
from posekit.data import load, parse_spec
from posekit.data.dataset import read_image
from posekit.evaluate import predict_dataset, score
from posekit.train import train

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WEIGHTS_DIR = HERE / "weights"
RUNS_DIR = Path("runs/algorithms")
DATA = "lsp:../shared/datasets/lsp"

HG = "configs/hourglass_s2w64_lsp+lspet_128x128.yaml"
HR = "configs/hrnet_w16_lsp+lspet_128x128.yaml"
DP = "configs/deeppose_s2_lsp+lspet_128x128.yaml"
TO = "configs/tompson_ms2_lsp+lspet_128x128.yaml"
SB = "configs/simplebaseline_r18s_lsp+lspet_128x128.yaml"

# name -> what to train. ``trained_as`` reuses another variant's weights (scored with ``eval_overrides``);
# ``plan_from`` takes another variant's step count (same network, so the same compute) instead of probing.
VARIANTS: dict[str, dict] = {
    "hourglass-2x64": {"method": "hourglass", "variant": "2 stacks, width 64, intermediate supervision, L2 loss",
                       "config": HG, "overrides": []},
    "hrnet-w16": {"method": "hrnet", "variant": "W16, L2 loss", "config": HR, "overrides": []},
    "deeppose-cascade": {"method": "deeppose", "variant": "stage 1 + 1 cascade stage, L2 loss",
                         "config": DP, "overrides": []},
    "deeppose-stage1": {"method": "deeppose", "variant": "stage 1 alone (the cascade run's first stage)",
                        "trained_as": "deeppose-cascade", "eval_overrides": ["model.kwargs.stages_used=1"]},
    "tompson": {"method": "tompson", "variant": "2-scale coarse net + shared fine net, L2 loss",
                "config": TO, "overrides": []},
    "tompson-coarse": {"method": "tompson", "variant": "coarse model alone (the tompson run's, fine model unused)",
                       "trained_as": "tompson", "eval_overrides": ["model.kwargs.refine=false"]},
    "hourglass-2x64-final": {"method": "hourglass", "variant": "2 stacks, width 64, final-stack supervision only, L2",
                             "plan_from": "hourglass-2x64", "config": HG,
                             "overrides": ["model.kwargs.intermediate=false"]},
    "hourglass-2x64-l1": {"method": "hourglass", "variant": "2 stacks, width 64, intermediate, L1 loss",
                          "plan_from": "hourglass-2x64", "config": HG, "overrides": ["model.kwargs.loss=l1"]},
    "hourglass-2x64-ce": {"method": "hourglass", "variant": "2 stacks, width 64, intermediate, cross-entropy loss",
                          "plan_from": "hourglass-2x64", "config": HG, "overrides": ["model.kwargs.loss=ce"]},
    "hourglass-1x88": {"method": "hourglass", "variant": "1 stack, width 88 (about the 2x64 compute), L2",
                       "config": HG, "overrides": ["model.kwargs.num_stacks=1", "model.kwargs.width=88"]},
    "hourglass-4x48": {"method": "hourglass", "variant": "4 stacks, width 48, intermediate supervision, L2",
                       "config": HG, "overrides": ["model.kwargs.num_stacks=4", "model.kwargs.width=48"]},
    "simplebaseline": {"method": "simplebaseline", "variant": "compact ResNet backbone (the default model's), L2",
                       "config": SB, "overrides": []},
    "hourglass-2x64-seed1": {"method": "hourglass", "variant": "as hourglass-2x64, training seed 1",
                             "plan_from": "hourglass-2x64", "config": HG, "overrides": ["train.seed=1"]},
    "hourglass-2x64-final-seed1": {"method": "hourglass", "variant": "as hourglass-2x64-final, training seed 1",
                                   "plan_from": "hourglass-2x64", "config": HG,
                                   "overrides": ["model.kwargs.intermediate=false", "train.seed=1"]},
    "deeppose-cascade-l1": {"method": "deeppose", "variant": "stage 1 + 1 cascade stage, L1 loss",
                            "plan_from": "deeppose-cascade", "config": DP, "overrides": ["model.kwargs.loss=l1"]},
}


def run_dir(name: str) -> Path:
    return RUNS_DIR / name


def trained_name(name: str) -> str:
    """The variant whose training run holds ``name``'s weights (itself unless ``trained_as``)."""
    return VARIANTS[name].get("trained_as", name)


def test_samples() -> list:
    """LSP test (images 1001-2000), read from ``DATA``."""
    fmt, path = parse_spec(DATA)
    return load(fmt, path, split="test")


def probe_images_per_s(spec: dict, threads: int) -> float:
    """Training images/s of this variant on this machine: 40 real steps of the one loop, median of the
    logged rates after the first (warm-up) window."""
    probe = RUNS_DIR / "_probe"
    shutil.rmtree(probe, ignore_errors=True)
    cfg = load_config(spec["config"], spec["overrides"] + [
        f"train.out_dir={probe}", "train.max_steps=100000", "train.stop_after=40", "train.log_every=10",
        f"train.threads={threads}", "train.eval_every=100000", "train.checkpoint_every=100000"])
    train(cfg, progress=False)
    rates = [r["images_per_s"] for r in map(json.loads, (probe / "metrics.jsonl").read_text().splitlines())
             if "images_per_s" in r]
    shutil.rmtree(probe, ignore_errors=True)
    return statistics.median(rates[1:] or rates)


def train_variant(name: str, budget_min: float, threads: int) -> None:
    """Train ``name`` for ``budget_min`` minutes of this machine (resuming an interrupted run)."""
    spec = VARIANTS[name]
    out = run_dir(name)
    plan_path = out / "plan.json"
    base = spec.get("plan_from")
    if plan_path.exists():
        plan = json.loads(plan_path.read_text())
    elif base:
        # Same network as ``base`` (only the loss, the supervision or the seed differ): the same number of
        # steps, i.e. exactly the same compute, instead of a second, noisy speed probe.
        if not (run_dir(base) / "plan.json").exists():
            train_variant(base, budget_min, threads)
        plan = {k: v for k, v in json.loads((run_dir(base) / "plan.json").read_text()).items() if k != "command"}
        plan["plan_from"] = base
    else:
        rate = probe_images_per_s(spec, threads)
        batch = load_config(spec["config"], spec["overrides"]).train.batch_size
        plan = {"probe_images_per_s": round(rate, 1), "budget_min": budget_min, "threads": threads,
                "max_steps": max(100, int(rate * budget_min * 60 / batch))}
    steps = plan["max_steps"]
    overrides = spec["overrides"] + [
        f"train.out_dir={out}", f"train.max_steps={steps}", f"train.warmup_steps={max(20, steps // 20)}",
        f"train.threads={plan['threads']}", "train.checkpoint_every=200",
        # a guard only: a run slowed by other work stops (checkpointed) instead of overrunning the session
        f"train.time_limit_min={1.5 * plan['budget_min']:.1f}"]
    plan["command"] = f"posekit train {spec['config']} " + " ".join(overrides)
    out.mkdir(parents=True, exist_ok=True)
    plan_path.write_text(json.dumps(plan, indent=1))
    resume = (out / "last.pt").exists()
    print(f"[{name}] {'resuming' if resume else 'training'}: {steps} steps (probe {plan['probe_images_per_s']} img/s)",
          flush=True)
    result = train(load_config(spec["config"], overrides), resume=resume, progress=False)
    if result.finished:
        (out / "finished").touch()


# variants whose weights ship in the package as zoo models (posekit.zoo); the others stay in benchmarks/weights/
ZOO_NAMES = {"hourglass-2x64": "hourglass", "hrnet-w16": "hrnet", "deeppose-cascade": "deeppose", "tompson": "tompson"}


def weights_path(name: str) -> str:
    """The variant's committed weights: its zoo name, else its file relative to the repository root (run from
    there)."""
    trained = trained_name(name)
    return ZOO_NAMES.get(trained) or str((WEIGHTS_DIR / f"{trained}.pt").relative_to(REPO))


def time_predictor(predictor, image: np.ndarray) -> tuple[float, float]:
    """(network ms for one crop, whole-image predict() ms), batch 1, medians after warm-up."""
    w, h = predictor.input_size
    crop = torch.randn(1, 3, h, w)
    with torch.no_grad():
        net_ms = median_ms(lambda: predictor.model(crop), warmup=5, repeats=30)
    return net_ms, median_ms(lambda: predictor.predict(image), warmup=3, repeats=20)


def score_variant(name: str, threads: int) -> dict:
    """Export the variant's best-on-validation weights (float16) into benchmarks/weights/ (unless a zoo model
    holds them), score them on LSP test with the user-facing Predictor, and write
    benchmarks/algorithms/<name>.json."""
    spec = VARIANTS[name]
    trained = trained_name(name)
    weights = weights_path(name)
    if trained not in ZOO_NAMES and not Path(weights).exists():
        export_checkpoint(run_dir(trained) / "best.pt", weights)
    torch.set_num_threads(threads)
    overrides = spec.get("eval_overrides", [])
    predictor = load_model(weights, device="cpu", backend="torch", overrides=overrides)
    samples = test_samples()
    pred, gt, heads = predict_dataset(predictor, samples, progress=False)  # keeps the log readable
    metrics = score(pred, gt, predictor.skeleton, heads)
    net_ms, predict_ms = time_predictor(predictor, read_image(samples[0].image_path))
    w, h = predictor.input_size
    summary = training_summary(run_dir(trained) / "metrics.jsonl")
    plan = json.loads((run_dir(trained) / "plan.json").read_text())
    sets = "".join(f" --set {o}" for o in overrides)
    row = {
        "name": name,
        "method": spec["method"],
        "variant": spec["variant"],
        "weights": str(weights),
        "pck@0.2": metrics["pck@0.2"],
        "per_joint": metrics["per_joint"],
        "per_part": metrics["per_part"],
        "pcp": metrics["pcp"],
        "auc": metrics["auc"],
        "pck_curve": metrics["pck_curve"],
        "params": count_params(predictor.model),
        "gflops": round(2 * count_macs(predictor.model, (w, h)) / 1e9, 3),
        "train_minutes": summary["wall_clock_min"],
        "train_images_per_s": summary["images_per_s_median"],
        "train_steps": summary["steps"],
        "best_val_pck@0.2": summary["best_val_pck@0.2"],
        "infer_ms": round(predict_ms, 1),
        "infer_ms_network": round(net_ms, 2),
        "threads": threads,
        "train_command": plan["command"],
        "eval_command": f"posekit eval --model {weights} --data {DATA} --split test{sets}",
    }
    row = save_row(row)
    print(f"[{name}] PCK@0.2 {row['pck@0.2']}  PCP {row['pcp']}  AUC {row['auc']}  {row['infer_ms']} ms", flush=True)
    return row


def read_rows() -> list[dict]:
    order = list(VARIANTS)
    rows = [json.loads(p.read_text()) for p in ROWS_DIR.glob("*.json")]
    return sorted(rows, key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))


def retime_rows(threads: int) -> None:
    """Re-measure every row's latency in one sitting (same load on the machine for all)."""
    torch.set_num_threads(threads)
    image = read_image(test_samples()[0].image_path)
    for row in read_rows():
        if row["name"] not in VARIANTS:  # the classic rows (ps, pcps, ps_cnn): timed by benchmarks/classic.py score
            continue
        predictor = load_model(row["weights"], device="cpu", backend="torch",
                               overrides=VARIANTS[row["name"]].get("eval_overrides"))
        net_ms, predict_ms = time_predictor(predictor, image)
        row.update(infer_ms=round(predict_ms, 1), infer_ms_network=round(net_ms, 2), threads=threads,
                   machine=machine())
        (ROWS_DIR / f"{row['name']}.json").write_text(json.dumps(row, indent=1))
        print(f"[{row['name']}] {row['infer_ms']} ms predict(), {row['infer_ms_network']} ms network")


def run_all(names: list[str], budget_min: float, threads: int) -> None:
    for name in names:
        trained = trained_name(name)
        if not (run_dir(trained) / "finished").exists():
            train_variant(trained, budget_min, threads)
            if not (run_dir(trained) / "finished").exists():
                sys.exit(f"[{trained}] stopped before its last step; rerun to resume")
        if not (ROWS_DIR / f"{name}.json").exists():
            score_variant(name, threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["all", "train", "score", "latency", "report"])
    parser.add_argument("names", nargs="*", help=f"variants (default: all): {', '.join(VARIANTS)}")
    parser.add_argument("--budget-min", type=float, default=20.0, help="training minutes per variant")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training, scoring, timing")
    args = parser.parse_args()
    unknown = [n for n in args.names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    names = args.names or list(VARIANTS)
    if args.action == "all":
        run_all(names, args.budget_min, args.threads)
    elif args.action == "train":
        for name in names:
            train_variant(trained_name(name), args.budget_min, args.threads)
    elif args.action == "score":
        for name in names:
            score_variant(name, args.threads)
    elif args.action == "latency":
        retime_rows(args.threads)
    else:
        from algorithms_report import write_report

        write_report(read_rows())


if __name__ == "__main__":
    main()
