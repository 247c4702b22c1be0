"""Benchmark the shipped default model: LSP-test accuracy (whole images, no ground-truth boxes),
inference latency, size, and the training run's cost. Writes default_model.{json,md} and
default_model_pck.png next to this file.

    python benchmarks/default_model.py --data ../shared/datasets --train-log runs/default/metrics.jsonl

LSP test = images 1001-2000; nothing was chosen on it (hyper-parameters were fixed on the validation
split carved from LSP train + LSPet).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from bench_utils import median_ms, provenance, training_summary

from posekit.api import load_model
from posekit.complexity import count_macs, count_params
from posekit.config import PredictConfig, build_codec, load_config
from posekit.data import load
from posekit.data.dataset import benchmark_dataset
from posekit.evaluate import predict_dataset, score
from posekit.train_data import make_dataset
from posekit.viz import plot_pck_curves

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/datasets")
    parser.add_argument("--model", default="default")
    parser.add_argument("--train-log", action="append", default=[],
                        help="metrics.jsonl of a training phase (repeat for runs in phases, in order)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="first N test images only (smoke runs)")
    parser.add_argument("--config", default="configs/simplebaseline_r18s_lsp+lspet_128x128.yaml",
                        help="the training config, for the data pipeline's throughput")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)

    predictor = load_model(args.model, device="cpu", backend="torch")
    samples = load("lsp", data / "lsp", split="test")
    if args.limit:
        samples = samples[: args.limit]
    pred, gt, heads = predict_dataset(predictor, samples)
    metrics = score(pred, gt, predictor.skeleton, heads)

    # latency, batch 1: the network alone on one crop, and the full whole-image predict()
    model = predictor.model
    w, h = predictor.input_size
    crop = torch.randn(1, 3, h, w)
    with torch.no_grad():
        net_ms = median_ms(lambda: model(crop))
    image = samples[0].image_path
    from posekit.data.dataset import read_image

    decoded = read_image(image)
    predict_ms = median_ms(lambda: predictor.predict(decoded), warmup=3, repeats=30)

    # throughput of the two halves of training: the config's data pipeline alone, a model step alone
    cfg = load_config(args.config, [f"data.root={data}", "data.cache_dir=''"])
    ds = make_dataset(cfg, load("lsp", data / "lsp", split="train")[:200], build_codec(cfg), train=True)
    ds.build_cache(progress=False)
    data_rate = benchmark_dataset(ds, n=400)
    model = copy.deepcopy(predictor.model).train()  # the predictor's weights stay untouched
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    batch = torch.randn(32, 3, h, w)
    targets = {"heatmaps": torch.zeros(32, predictor.skeleton.num_joints, *predictor.codec.heatmap_size[::-1]),
               "weights": torch.ones(32, predictor.skeleton.num_joints)}

    def step():
        loss = sum(model(batch, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()

    model_rate = 32 / (median_ms(step, warmup=2, repeats=8) / 1000)

    macs = count_macs(predictor.model, (w, h))
    result = {
        "model": args.model,
        **provenance(),
        "command": "python benchmarks/default_model.py " + " ".join(
            f"--{k.replace('_', '-')} {x}" for k, v in vars(args).items() if v not in (None, [])
            for x in (v if isinstance(v, list) else [v])),
        "data": "LSP test, images 1001-2000, 1000 people, all 14 joints (occluded ones included)",
        "protocol": "whole images, no ground-truth boxes (Predictor.predict); PCK@0.2 torso-normalised, "
                    f"PROTOCOLS.md; flip test {'on' if predictor.flip_test else 'off'}; "
                    f"{predictor.refine_steps} re-crop refinement passes on the box of the keypoints scoring "
                    f">= {predictor.box_threshold} x the best",
        # every setting the weights carry (config section ``predict``), read back from the Predictor
        "predictor": {f.name: getattr(predictor, f.name) for f in dataclasses.fields(PredictConfig)},
        "metrics": metrics,
        "params": count_params(predictor.model),
        "gmacs": round(macs / 1e9, 3),
        "gflops": round(2 * macs / 1e9, 3),
        "input_size": [w, h],
        "infer_ms_network_batch1": round(net_ms, 2),
        "infer_ms_predict_whole_image": round(predict_ms, 2),
        "data_pipeline_items_per_s_1proc": round(data_rate, 1),
        "model_train_images_per_s": round(model_rate, 1),
    }
    if args.train_log:
        result["training"] = [dict(training_summary(Path(p)), log=p) for p in args.train_log]
    (HERE / "default_model.json").write_text(json.dumps(result, indent=2))
    curve = metrics["pck_curve"]
    plot_pck_curves(np.array(curve["thresholds"]), {"posekit default (whole image)": np.array(curve["values"]) / 100},
                    HERE / "default_model_pck.png", title="LSP test: PCK vs normalised distance",
                    xlabel="threshold (fraction of torso size)")
    write_markdown(result)
    print(json.dumps({k: result[k] for k in ("params", "gflops", "infer_ms_network_batch1",
                                             "infer_ms_predict_whole_image")}, indent=1))
    print("PCK@0.2", metrics["pck@0.2"], "PCP", metrics["pcp"], "AUC", metrics["auc"])


def write_markdown(r: dict) -> None:
    m = r["metrics"]
    parts = m["per_part"]
    lines = [
        "# Default model benchmark",
        "",
        f"Date {r['date']}; machine: {r['machine']}.",
        "",
        f"Reproduce: `{r['command']}`",
        "",
        f"Data: {r['data']}. Protocol: {r['protocol']}.",
        "",
        "| model | PCK@0.2 | " + " | ".join(parts) + " | PCP (strict) | PCP (loose) | AUC@0.2 |",
        "|---|---|" + "---|" * len(parts) + "---|---|---|",
        f"| posekit default | **{m['pck@0.2']}** | " + " | ".join(str(v) for v in parts.values())
        + f" | {m['pcp']} | {m['pcp_loose']} | {m['auc']} |",
        "",
        "Per joint PCK@0.2: " + ", ".join(f"{k} {v}" for k, v in m["per_joint"].items()) + ".",
        "",
        "Per limb PCP (strict): " + ", ".join(f"{k} {v}" for k, v in m["pcp_per_limb"].items()) + ".",
        "",
        "| params | GMACs (GFLOPs = 2x) | input | network ms (batch 1) | predict() ms per whole image |"
        " data items/s (1 process) | model train images/s |",
        "|---|---|---|---|---|---|---|",
        f"| {r['params'] / 1e6:.2f} M | {r['gmacs']} ({r['gflops']}) | {r['input_size'][0]}x{r['input_size'][1]} |"
        f" {r['infer_ms_network_batch1']} | {r['infer_ms_predict_whole_image']} |"
        f" {r['data_pipeline_items_per_s_1proc']} | {r['model_train_images_per_s']} |",
        "",
        f"`predict()` on a whole image = HOG person candidates + {1 + r['predictor']['refine_steps']} passes "
        f"(first look, {r['predictor']['refine_steps']} re-crops on the keypoints' own box) x 2 (flip test) network "
        "runs, plus decoding.",
    ]
    for i, t in enumerate(r.get("training", []), 1):
        lines += ["", f"Training phase {i} (`{t['log']}`): {t['steps']} steps of batch 32 on LSP train + LSPet "
                  f"(5 % held out for validation), {t['wall_clock_min']} min wall clock on this machine (shared with "
                  f"other work), median {t['images_per_s_median']} images/s; best validation PCK@0.2 "
                  f"{t['best_val_pck@0.2']:.2f} (ground-truth person crops of the held-out images, no flip test)."]
    lines += ["", "For scale (not the same protocol: ground-truth person-centred crops, GPU-trained, larger "
              "inputs): CPM (Wei et al. 2016) reported PCK@0.2 84.3 on LSP test trained on LSP + LSPet.",
              "", "![PCK curve](default_model_pck.png)", ""]
    (HERE / "default_model.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
