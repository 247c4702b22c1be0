"""Validation during training, one per ``data.kind``: PCK@0.2 of a top-down network on ground-truth
person crops, box AP of the person detector and OKS-AP of a bottom-up network on whole validation images.
:data:`VALIDATIONS` maps each kind to its scorer; :func:`posekit.train.train` calls it and keeps
``best.pt`` by the score it returns.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

import posekit.metrics as metrics
from posekit.coco_eval import box_ap, oks_ap_people
from posekit.codecs.heatmap import HeatmapCodec
from posekit.data.bottomup import BottomUpDataset
from posekit.data.dataset import PoseDataset
from posekit.data.detection import DetectionDataset
from posekit.data.transforms import apply_affine, invert_affine
from posekit.predict.flip import predict_crops


@torch.no_grad()
def validate(model: torch.nn.Module, dataset: PoseDataset, codec: HeatmapCodec, device: torch.device,
             batch_size: int = 64, channels_last: bool = False) -> dict:
    """PCK@0.2 (torso-normalised, PROTOCOLS.md LSP) of ``model`` on ``dataset``'s ground-truth crops,
    scored in original image pixels. Returns {"pck@0.2": percent, "num_people": n}."""
    if len(dataset) == 0:
        return {}
    was_training = model.training
    model.eval()
    preds, gts = [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for batch in loader:
        images = batch["image"].to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        kps = predict_crops(model, images, codec)  # (N, K, 3) in crop pixels
        for k, m, index in zip(kps, batch["matrix"].numpy(), batch["index"].tolist()):
            xy = apply_affine(k[:, :2], invert_affine(m))
            preds.append(np.concatenate([xy, k[:, 2:]], axis=1))
            gts.append(dataset.person(index)[1].keypoints)
    model.train(was_training)
    pred, gt = np.stack(preds), np.stack(gts)
    skeleton = dataset.skeleton
    result = metrics.pck(pred, gt, metrics.torso_size(gt, skeleton), alpha=0.2)
    return {"pck@0.2": 100.0 * float(result["mean"]), "num_people": len(gts)}


def _eval_outputs(model: torch.nn.Module, dataset, device: torch.device, batch_size: int, channels_last: bool
                  ) -> Iterator[tuple[list[int], dict]]:
    """(dataset indices, the model's eval-mode outputs) batch by batch over a whole-image validation set
    (``dataset`` items carry "image" and "index"); the model's training mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
            x = batch["image"].to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield batch["index"].tolist(), model(x)
    finally:
        model.train(was_training)


@torch.no_grad()
def validate_detection(model: torch.nn.Module, dataset: DetectionDataset, device: torch.device,
                       batch_size: int = 16, channels_last: bool = False) -> dict:
    """Box AP of the detector on ``dataset``'s letterboxed validation images (PROTOCOLS.md "Person
    detection", in input pixels). Returns {"box_ap": %, "box_ap50": %, "num_images": n}."""
    codec = dataset.codec
    images, annotations, detections = [], [], []
    for indices, out in _eval_outputs(model, dataset, device, batch_size, channels_last):
        out = {k: v.cpu().numpy() for k, v in out.items()}
        for j, index in enumerate(indices):
            boxes, scores = codec.decode(out["centers"][j, 0], out["sizes"][j], out["offsets"][j], threshold=0.01)
            images.append({"id": index})
            people, ignore = dataset.boxes(index)
            for crowd, group in ((0, people), (1, ignore)):
                for b in group:
                    annotations.append({"id": len(annotations) + 1, "image_id": index, "category_id": 1,
                                        "bbox": b.tolist(), "area": float(b[2] * b[3]), "iscrowd": crowd})
            detections += [{"image_id": index, "category_id": 1, "bbox": b.tolist(), "score": float(s)}
                           for b, s in zip(boxes, scores)]
    result = box_ap({"images": images, "annotations": annotations, "categories": [{"id": 1}]}, detections)
    return {"box_ap": 100 * result["AP"], "box_ap50": 100 * result["AP50"], "num_images": len(images)}


@torch.no_grad()
def validate_bottomup(model: torch.nn.Module, dataset: BottomUpDataset, device: torch.device,
                      batch_size: int = 16, channels_last: bool = False) -> dict:
    """OKS-AP (PROTOCOLS.md "Multi-person": the skeleton's own sigmas; area as
    :meth:`BottomUpDataset.ground_truth` gives it) of a bottom-up model on ``dataset``'s letterboxed
    validation images, in input pixels, decoded by the dataset's PAF codec (no flip test). Returns
    {"oks_ap": %, "oks_ap50": %, "num_images": n}."""
    codec = dataset.codec
    ground_truth, found = [], []
    for indices, out in _eval_outputs(model, dataset, device, batch_size, channels_last):
        n, _, h, w = out["heatmaps"].shape
        found += codec.decode_scored(out["heatmaps"].float().cpu().numpy(),
                                     out["pafs"].float().reshape(n, -1, 2, h, w).cpu().numpy())
        ground_truth += [dataset.ground_truth(index) for index in indices]
    result = oks_ap_people(ground_truth, found, sigmas=np.asarray(dataset.skeleton.oks_sigmas))
    return {"oks_ap": 100 * max(result["AP"], 0.0), "oks_ap50": 100 * max(result["AP50"], 0.0),
            "num_images": len(ground_truth)}


def _score_topdown(model: torch.nn.Module, dataset: PoseDataset, codec: HeatmapCodec, device: torch.device,
                   channels_last: bool) -> tuple[float, dict, str]:
    val = validate(model, dataset, codec, device, channels_last=channels_last)
    score = val["pck@0.2"]
    return score, {"val_pck": score}, f"PCK@0.2 {score:.2f} ({val['num_people']} people)"


def _score_detection(model: torch.nn.Module, dataset: DetectionDataset, codec, device: torch.device,
                     channels_last: bool) -> tuple[float, dict, str]:
    val = validate_detection(model, dataset, device, channels_last=channels_last)
    score = val["box_ap50"]
    return (score, {"val_box_ap50": score, "val_box_ap": val["box_ap"]},
            f"box AP@.5 {score:.2f}, AP {val['box_ap']:.2f} ({val['num_images']} images)")


def _score_bottomup(model: torch.nn.Module, dataset: BottomUpDataset, codec, device: torch.device,
                    channels_last: bool) -> tuple[float, dict, str]:
    val = validate_bottomup(model, dataset, device, channels_last=channels_last)
    score = val["oks_ap"]
    return (score, {"val_oks_ap": score, "val_oks_ap50": val["oks_ap50"]},
            f"OKS-AP {score:.2f}, AP@.5 {val['oks_ap50']:.2f} ({val['num_images']} images)")


#: ``data.kind`` -> the validation of that kind of model. Each takes (model, validation set, codec, device,
#: channels_last) and returns (the score best.pt keeps the best of, the metrics.jsonl fields, a line for the
#: progress bar)
VALIDATIONS = {"topdown": _score_topdown, "detection": _score_detection, "bottomup": _score_bottomup}
