"""Prediction: a trained top-down heatmap model wrapped for images, folders and videos.

``load_model("default")`` loads the weights shipped in the package; ``load_model(path)`` a checkpoint
written by ``posekit train``. ``Predictor.predict(image, boxes=None)`` returns keypoints in the input
image's pixels.

Finding the person without boxes (until posekit has a trained detector): candidate boxes are the
whole image plus OpenCV's HOG people detector (Dalal & Triggs 2005, built into OpenCV, no download);
the model runs on each candidate and then *re-crops* on the box implied by its own keypoints (the
keypoints' extent x ``padding``), which puts the person at the scale and position the model was
trained on. The candidate whose refined pose has the highest mean keypoint confidence wins. This is
iterative re-cropping as in DeepPose's cascade, applied at inference with the same network.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import pickle
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from posekit.codecs.heatmap import HeatmapCodec
from posekit.codecs.regression import RegressionCodec
from posekit.config import Config, PredictConfig, apply_overrides, build_codec, build_model, from_dict
from posekit.data.dataset import normalize_image, read_image
from posekit.data.transforms import affine_matrix, apply_affine, box_to_center_scale, invert_affine, warp
from posekit.skeletons import Skeleton, get_skeleton
from posekit.types import Prediction, box_from_keypoints

WEIGHTS_DIR = Path(__file__).parent / "weights"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg"}


@torch.no_grad()
def predict_crops(model: torch.nn.Module, images: torch.Tensor, codec: HeatmapCodec,
                  flip_index: np.ndarray | None = None) -> np.ndarray:
    """Keypoints (N, K, 3) = (x, y, score) in input-crop pixels for normalised crops (N, 3, H, W).

    Works for both kinds of model output: {"heatmaps": (N, K, h, w)} decoded by ``codec``, or
    {"coords": (N, K, 2) normalised as RegressionCodec, "scores": (N, K) optional}. With ``flip_index``
    the mirrored crop is predicted too and averaged in (heatmaps mirrored back and left/right channels
    swapped; coordinates likewise) -- the usual flip test.
    """
    out = model(images)
    if flip_index is not None:
        flipped = model(torch.flip(images, dims=[3]))
        perm = torch.as_tensor(flip_index, device=images.device)
    if "heatmaps" in out:
        heatmaps = out["heatmaps"].float()
        if flip_index is not None:
            heatmaps = 0.5 * (heatmaps + torch.flip(flipped["heatmaps"].float(), dims=[3])[:, perm])
        return codec.decode(heatmaps.cpu().numpy())
    if "coords" in out:
        coords = out["coords"].float()
        scores = out.get("scores")
        if flip_index is not None:
            mirrored = flipped["coords"].float()[:, perm]
            mirrored = torch.stack([1.0 - mirrored[..., 0], mirrored[..., 1]], dim=-1)
            coords = 0.5 * (coords + mirrored)
            if scores is not None:
                scores = 0.5 * (scores.float() + flipped["scores"].float()[:, perm])
        regression = RegressionCodec(input_size=tuple(codec.input_size))
        return regression.decode(coords.cpu().numpy(), None if scores is None else scores.float().cpu().numpy())
    raise ValueError(f"model output has neither 'heatmaps' nor 'coords' (keys: {sorted(out)})")


class Predictor:
    """Top-down single-person pose predictor.

    model: a heatmap model whose eval forward returns {"heatmaps": (N, K, h, w)}.
    codec: the HeatmapCodec it was trained with (input size, heatmap size, decoding).
    skeleton: the model's keypoint definition.
    padding: box enlargement around a person (training used the same).
    flip_test: average the heatmaps of the image and its mirror (with left/right channels swapped).
    refine_steps: re-crop passes on the box implied by the previous pass's keypoints.
    box_threshold: the keypoints that imply that box are those scoring at least this fraction of the
        pass's best keypoint score (0 = all of them).
    """

    def __init__(self, model: torch.nn.Module, codec: HeatmapCodec, skeleton: Skeleton, device: str | None = None,
                 padding: float = 1.25, flip_test: bool = PredictConfig.flip_test,
                 refine_steps: int = PredictConfig.refine_steps, use_detector: bool = PredictConfig.use_detector,
                 box_threshold: float = PredictConfig.box_threshold) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.codec = codec
        self.skeleton = skeleton
        self.padding = padding
        self.flip_test = flip_test
        self.refine_steps = refine_steps
        self.use_detector = use_detector
        self.box_threshold = box_threshold
        self.input_size = tuple(codec.input_size)
        self._hog = None

    # ------------------------------------------------------------------------------------- core
    def _heatmaps(self, crops: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 BGR crops -> keypoints (N, K, 3) in crop pixels (flip-averaged if enabled)."""
        x = torch.stack([normalize_image(c) for c in crops]).to(self.device)
        return predict_crops(self.model, x, self.codec, self.skeleton.flip_index if self.flip_test else None)

    def _predict_boxes(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Keypoints (N, K, 3) in image pixels for (N, 4) boxes (x, y, w, h)."""
        aspect = self.input_size[0] / self.input_size[1]
        mats, crops = [], []
        for box in boxes:
            center, size = box_to_center_scale(box, aspect, self.padding)
            m = affine_matrix(center, size, self.input_size)
            mats.append(m)
            crops.append(warp(image, m, self.input_size, antialias=True))  # as the training crops
        kps = self._heatmaps(np.stack(crops))
        out = np.empty_like(kps, dtype=np.float64)
        for i, m in enumerate(mats):
            out[i, :, :2] = apply_affine(kps[i, :, :2], invert_affine(m))
            out[i, :, 2] = kps[i, :, 2]
        return out

    def _refine(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the model on ``boxes``, then re-crop ``refine_steps`` times on the keypoints' own box."""
        kps = self._predict_boxes(image, boxes)
        for _ in range(self.refine_steps):
            boxes = np.stack([self._box_of(k, b) for k, b in zip(kps, boxes)])
            kps = self._predict_boxes(image, boxes)
        return kps, boxes

    def _box_of(self, keypoints: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        """Tight box around confident keypoints (the padding is applied when cropping)."""
        conf = keypoints[:, 2] >= self.box_threshold * keypoints[:, 2].max()
        if conf.sum() < 3:
            return fallback
        box = box_from_keypoints(np.concatenate([keypoints[:, :2], conf[:, None].astype(float)], axis=1))
        return box if box[2] > 1 and box[3] > 1 else fallback

    def detect_people(self, image: np.ndarray) -> np.ndarray:
        """HOG people detector boxes (N, 4) x, y, w, h in image pixels (may be empty)."""
        if self._hog is None:
            if not hasattr(cv2, "HOGDescriptor"):  # OpenCV 5 moved it out of the main module
                raise RuntimeError(f"OpenCV {cv2.__version__} has no HOG people detector: install "
                                   "'opencv-python-headless<5' (as posekit requires), or pass boxes to predict()")
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        h, w = image.shape[:2]
        scale = min(1.0, 640.0 / max(h, w))
        small = cv2.resize(image, None, fx=scale, fy=scale) if scale < 1 else image
        if min(small.shape[:2]) < 128:
            return np.zeros((0, 4))
        rects, weights = self._hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return np.zeros((0, 4))
        order = np.argsort(-np.asarray(weights).reshape(-1))[:5]
        return np.asarray(rects, dtype=np.float64)[order] / scale

    # ----------------------------------------------------------------------------------- public
    def predict(self, image: str | Path | np.ndarray, boxes: np.ndarray | list | None = None) -> list[Prediction]:
        """Predict poses.

        image: a path, or an H x W x 3 uint8 array in **BGR** order (OpenCV's ``cv2.imread`` order).
        boxes: (N, 4) person boxes (x, y, w, h) in image pixels, one prediction each; None = find the
            single most confident person (whole image + HOG candidates, refined by re-cropping).
        Returns a list of :class:`~posekit.types.Prediction` with keypoints (K, 3) = (x, y, score) in
        the image's pixels.
        """
        if not isinstance(image, np.ndarray):
            image = read_image(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be H x W x 3 uint8 BGR, got {image.dtype} {image.shape}")
        h, w = image.shape[:2]
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            if len(boxes) == 0:
                return []
            kps = self._predict_boxes(image, boxes)
            return [Prediction(k, float(k[:, 2].mean()), b, self.skeleton) for k, b in zip(kps, boxes)]
        candidates = [np.array([0.0, 0.0, w, h])]
        if self.use_detector:
            candidates += list(self.detect_people(image))
        kps, used = self._refine(image, np.stack(candidates))
        scores = kps[:, :, 2].mean(axis=1)
        best = int(np.argmax(scores))
        return [Prediction(kps[best], float(scores[best]), used[best], self.skeleton)]

    def predict_video(self, path: str | Path) -> Iterator[tuple[int, np.ndarray, list[Prediction]]]:
        """Yield (frame_index, frame BGR, predictions) for each frame; the person is tracked by
        re-cropping on the previous frame's keypoint box, re-detected when confidence drops."""
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise ValueError(f"cannot open video: {path}")
        prev: Prediction | None = None
        index = 0
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                if prev is not None and prev.score > 0.3:
                    box = self._box_of(prev.keypoints, prev.box)
                    preds = self.predict(frame, boxes=[box])
                    if preds[0].score < 0.3:
                        preds = self.predict(frame)
                else:
                    preds = self.predict(frame)
                prev = preds[0] if preds else None
                yield index, frame, preds
                index += 1
        finally:
            cap.release()


def _checkpoint_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = WEIGHTS_DIR / f"{name_or_path}.pt"
    if shipped.exists():
        return shipped
    known = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
    raise FileNotFoundError(f"no model {name_or_path!r}: not a file, and not a shipped model (shipped: {known})")


def read_checkpoint(path: str | Path) -> dict:
    """A posekit checkpoint as a dict (on the CPU); anything else is a ValueError naming the file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: cannot read as a checkpoint: {e}") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ValueError(f"{path}: not a posekit checkpoint (needs 'model' and 'config')")
    return state


def _load_state(model: torch.nn.Module, state: dict, path: Path, partial: bool = False) -> None:
    """Copy checkpoint weights (float16 storage allowed) into ``model``; a mismatch names the file.
    ``partial``: copy only the tensors whose name and shape the model shares (fine-tuning a different
    head on the same backbone), logging what was left out; at least one tensor must fit."""
    weights = {k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()}
    if partial:
        own = model.state_dict()
        fitting = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
        if not fitting:
            raise ValueError(f"{path}: no weight fits the model (not even partially)")
        left = sorted(set(own) - set(fitting))
        if left:
            logging.getLogger(__name__).warning("%s: %d of %d model tensors start fresh (e.g. %s)", path,
                                                len(left), len(own), ", ".join(left[:4]))
        own.update(fitting)
        weights = own
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise ValueError(f"{path}: weights do not fit the model: {str(e).splitlines()[0]}") from None


def load_weights(model: torch.nn.Module, name_or_path: str | Path, partial: bool = False) -> None:
    """Initialise ``model`` from a checkpoint's (or a shipped model's) weights; ``partial`` copies only
    the tensors that fit (see :func:`_load_state`)."""
    path = _checkpoint_path(name_or_path)
    _load_state(model, read_checkpoint(path), path, partial)


def stored_config(state: dict, overrides: list[str] | None = None) -> tuple[dict, Config]:
    """A checkpoint's stored config with dotted ``overrides`` applied, as a plain dict (what a checkpoint
    stores) and validated as a :class:`Config` (a bad key or value fails here)."""
    config = apply_overrides(copy.deepcopy(state["config"]), overrides or [])
    return config, from_dict(Config, config)


def load_model(name_or_path: str | Path = "default", device: str | None = None, overrides: list[str] | None = None,
               **predictor_kwargs) -> Predictor:
    """A :class:`Predictor` from a shipped model name (``"default"``) or a checkpoint path.

    ``overrides`` are dotted ``key=value`` changes to the checkpoint's stored config applied before the
    model is built, e.g. ``["model.kwargs.stages_used=1"]`` to run DeepPose's first stage alone."""
    path = _checkpoint_path(name_or_path)
    state = read_checkpoint(path)
    _, cfg = stored_config(state, overrides)
    model = build_model(cfg)
    _load_state(model, state, path)
    codec = build_codec(cfg)
    skeleton = get_skeleton(cfg.model.skeleton)
    predictor_kwargs.setdefault("padding", cfg.data.padding)
    for key, value in dataclasses.asdict(cfg.predict).items():  # settings stored with the weights
        predictor_kwargs.setdefault(key, value)
    return Predictor(model, codec, skeleton, device=device, **predictor_kwargs)


def export_checkpoint(checkpoint: str | Path, out: str | Path, half: bool = True,
                      overrides: list[str] | None = None) -> Path:
    """Keep only what prediction needs from a training checkpoint: the weights (float16 storage by
    default: half the size, no measurable accuracy change; loaded back as float32), the resolved
    config (with dotted ``overrides`` applied, e.g. ``predict.refine_steps=4``), the step and the git
    revision it was trained at."""
    state = read_checkpoint(checkpoint)
    config, _ = stored_config(state, overrides)  # a bad override fails here, not when the export is loaded
    weights = {k: v.half() if half and v.is_floating_point() else v for k, v in state["model"].items()}
    slim = {"model": weights, "config": config, "step": state.get("step"),
            "git_revision": state.get("git_revision"), "best_val": state.get("best_val")}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(slim, out)
    return out


def iter_inputs(paths: list[str | Path]) -> Iterator[Path]:
    """Expand files and folders (sorted, images and videos) into a list of input files."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        elif p.exists():
            yield p
        else:
            raise FileNotFoundError(f"input not found: {p}")
