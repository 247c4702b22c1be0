"""Prediction: trained models wrapped for images, folders and videos.

``load_model("default")`` loads the pipeline shipped in the package; ``load_model(path)`` a checkpoint
written by ``posekit train``. ``Predictor.predict(image, boxes=None)`` returns every person found, in
the input image's pixels, sorted by score.

Top-down (G-RMI, Papandreou et al. 2017): a person detector (:class:`PersonDetector`, posekit's trained
CenterNet) proposes boxes; the pose network runs on each box enlarged by ``padding`` (x 1.25), optionally
re-cropping on the box implied by its own keypoints (``refine_steps``, the DeepPose-cascade idea applied
with the same network); each person is scored box score x mean keypoint score (the rescoring of the
COCO top-down protocol), OKS-NMS removes duplicates, and people under ``person_threshold`` are dropped,
so an image with nobody in it gives an empty list.

Without a detector (models trained before there was one): the single most confident person is searched
for: the whole image (plus OpenCV's HOG people boxes when ``use_detector`` is set) is a candidate, refined
by re-cropping, and the candidate with the highest mean keypoint score is returned.

Bottom-up (Cao et al. 2017, :class:`BottomUpPredictor`, for models trained with ``data.kind: bottomup``):
one network pass over the whole letterboxed image gives every person's part maps and affinity fields, which
the model's :class:`~posekit.codecs.paf.PAFCodec` groups into people; same ``predict`` interface.
DeepCut (Pishchulin et al. 2016, :class:`DeepCutPredictor`, from a DeepCut weights file naming such a network)
groups the same part maps by the subset partition and labeling ILP of :mod:`posekit.grouping.ilp` instead.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import logging
import pickle
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

from posekit.codecs.boxes import CenterBoxCodec, box_iou
from posekit.codecs.heatmap import HeatmapCodec
from posekit.codecs.paf import PAFCodec, limb_flip
from posekit.codecs.regression import RegressionCodec
from posekit.config import Config, PredictConfig, apply_overrides, build_codec, build_model, from_dict
from posekit.data.bottomup import network_input
from posekit.data.dataset import normalize_image, read_image
from posekit.data.detection import boxes_to_image, letterbox, letterbox_matrix
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
    out, flipped = _forward(model, images, flip_index)
    if "heatmaps" in out:
        heatmaps, offsets = _flip_averaged_heatmaps(out, flipped, flip_index)
        return codec.decode(heatmaps, offsets)
    if "coords" in out:
        perm = None if flip_index is None else torch.as_tensor(flip_index, device=images.device)
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


def _forward(model: torch.nn.Module, images: torch.Tensor, flip_index: np.ndarray | None) -> tuple[dict, dict | None]:
    """The model's outputs for ``images`` and, with ``flip_index``, for their mirror images -- both in one
    batch: one pass over the weights instead of two (faster on a CPU; the same numbers in eval mode)."""
    if flip_index is None:
        return model(images), None
    both = model(torch.cat([images, torch.flip(images, dims=[3])]))
    n = len(images)
    return {k: v[:n] for k, v in both.items()}, {k: v[n:] for k, v in both.items()}


def _flip_averaged_heatmaps(out: dict, flipped: dict | None, flip_index: np.ndarray | None
                            ) -> tuple[np.ndarray, np.ndarray | None]:
    """(heatmaps (N, K, h, w), offsets (N, K, 2, h, w) or None) as NumPy, averaged with the mirrored
    pass when there is one (heatmaps mirrored back and left/right channels swapped; offsets likewise,
    dx negated)."""
    heatmaps = out["heatmaps"].float()
    offsets = out.get("offsets")
    if flipped is not None:
        perm = torch.as_tensor(flip_index, device=heatmaps.device)
        heatmaps = 0.5 * (heatmaps + torch.flip(flipped["heatmaps"].float(), dims=[3])[:, perm])
        if offsets is not None:  # mirror the field back: swap left/right joints, negate dx
            mirrored = torch.flip(flipped["offsets"].float(), dims=[4])[:, perm]
            mirrored = torch.stack([-mirrored[:, :, 0], mirrored[:, :, 1]], dim=2)
            offsets = 0.5 * (offsets.float() + mirrored)
    return heatmaps.cpu().numpy(), None if offsets is None else offsets.float().cpu().numpy()


@torch.no_grad()
def predict_heatmaps(model: torch.nn.Module, images: torch.Tensor, flip_index: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """A heatmap model's raw maps for normalised crops (N, 3, H, W): (heatmaps (N, K, h, w), offsets
    (N, K, 2, h, w) or None), flip-averaged as :func:`predict_crops` does -- for decoders other than the
    codec's (posekit.classic's tree inference)."""
    return _flip_averaged_heatmaps(*_forward(model, images, flip_index), flip_index)


def _input_size_for(image_shape: tuple[int, ...], longer_side: int) -> tuple[int, int]:
    """(W, H) of a letterboxed network input: the image's aspect, longer side ``longer_side``, both
    rounded up to multiples of 32 (the detector's deepest stride)."""
    h, w = image_shape[:2]
    s = longer_side / max(h, w)
    return (max(32, int(np.ceil(w * s / 32)) * 32), max(32, int(np.ceil(h * s / 32)) * 32))


class PersonDetector:
    """Boxes of people in a whole image, from a :class:`~posekit.models.centernet.CenterNet`.

    The image is letterboxed to ``size`` on its longer side, or its own size when smaller (never enlarged;
    the aspect kept, sides rounded up to multiples of 32),
    the centre heatmap decoded by ``codec`` (its calibration applied), boxes mapped back to image pixels.
    """

    def __init__(self, model: torch.nn.Module, codec: CenterBoxCodec, device: torch.device | str | None = None,
                 size: int = 256, threshold: float = 0.2, iou_threshold: float = 0.6, max_boxes: int = 30) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.codec = codec
        self.size = int(size)
        self.threshold = float(threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_boxes = int(max_boxes)

    @torch.no_grad()
    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (N, 4) x, y, w, h in image pixels, scores (N,)) for a uint8 BGR image, by score."""
        # never enlarged: a small person-centred photo enlarged to ``size`` shows its person larger than
        # any the detector trained on (held-out LSP images: PCK 86.0 at 352 px, 90.7 without enlarging)
        size = _input_size_for(image.shape, min(self.size, max(image.shape[:2])))
        M = letterbox_matrix(image.shape[1::-1], size)
        x = normalize_image(letterbox(image, M, size))[None].to(self.device)
        out = self.model(x)
        codec = CenterBoxCodec(size, (size[0] // 4, size[1] // 4), calibration=self.codec.calibration)
        boxes, scores = codec.decode(out["centers"][0, 0].cpu().numpy(), out["sizes"][0].cpu().numpy(),
                                     out["offsets"][0].cpu().numpy(), threshold=self.threshold,
                                     iou_threshold=self.iou_threshold, max_boxes=self.max_boxes)
        boxes = boxes_to_image(boxes, M)
        # clip to the image: a person cut by the frame is posed on what is there
        h, w = image.shape[:2]
        x0 = np.clip(boxes[:, 0], -0.5, w - 0.5)
        y0 = np.clip(boxes[:, 1], -0.5, h - 0.5)
        x1 = np.clip(boxes[:, 0] + boxes[:, 2], -0.5, w - 0.5)
        y1 = np.clip(boxes[:, 1] + boxes[:, 3], -0.5, h - 0.5)
        return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1), scores


def keypoint_confidence(keypoints: np.ndarray, floor: float = 0.2) -> np.ndarray:
    """A person's pose confidence from (N, K, 3) keypoints: the mean score of the keypoints scoring over
    ``floor`` (0 when none does), the rescoring of the HRNet / SimpleBaseline COCO pipelines: joints
    outside the crop of a truncated person do not drag a good pose down."""
    s = keypoints[..., 2]
    over = s > floor
    return np.where(over.any(-1), (s * over).sum(-1) / np.maximum(over.sum(-1), 1), 0.0)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, sigmas: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy OKS non-maximum suppression over people (N, K, 3) in image pixels: indices kept, by score.
    A person is dropped when its OKS against a kept, higher-scoring one exceeds ``threshold`` (the kept
    one acting as ground truth, area = its keypoint box); as the COCO top-down pipelines do."""
    from posekit.metrics import oks

    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    for i in order:
        dup = False
        for j in keep:
            ref = keypoints[j].copy()
            ref[:, 2] = 1.0
            box = box_from_keypoints(ref)
            if oks(keypoints[i][:, :2], ref, max(box[2] * box[3], 1.0), sigmas) > threshold:
                dup = True
                break
        if not dup:
            keep.append(int(i))
    return np.asarray(keep, dtype=np.int64)


class Predictor:
    """Pose predictor for whole images: top-down with a person detector, or the single-person search.

    model: a heatmap (or regression) model whose eval forward returns {"heatmaps": (N, K, h, w)}.
    codec: the HeatmapCodec it was trained with (input size, heatmap size, decoding).
    skeleton: the model's keypoint definition.
    detector: a :class:`PersonDetector` (None = single-person search, see the module docstring).
    padding: box enlargement around a person (training used the same).
    flip_test: average the heatmaps of the image and its mirror (with left/right channels swapped).
    refine_steps: re-crop passes on the box implied by the previous pass's keypoints.
    box_threshold: the keypoints that imply that box are those scoring at least this fraction of the
        pass's best keypoint score (0 = all of them).
    use_detector: HOG candidates in the detector-less search.
    person_threshold, oks_nms, max_people, whole_image, whole_image_overlap: see
        :class:`~posekit.config.PredictConfig` (for the detector's people; the detector-less search always
        returns its one best candidate, as before).
    """

    def __init__(self, model: torch.nn.Module, codec: HeatmapCodec, skeleton: Skeleton, device: str | None = None,
                 padding: float = 1.25, flip_test: bool = PredictConfig.flip_test,
                 refine_steps: int = PredictConfig.refine_steps, use_detector: bool = PredictConfig.use_detector,
                 box_threshold: float = PredictConfig.box_threshold, detector: PersonDetector | None = None,
                 person_threshold: float = PredictConfig.person_threshold, oks_nms: float = PredictConfig.oks_nms,
                 max_people: int = PredictConfig.max_people, whole_image: float = PredictConfig.whole_image,
                 whole_image_overlap: float = PredictConfig.whole_image_overlap) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.codec = codec
        self.skeleton = skeleton
        self.padding = padding
        self.flip_test = flip_test
        self.refine_steps = refine_steps
        self.use_detector = use_detector
        self.box_threshold = box_threshold
        self.detector = detector
        self.person_threshold = person_threshold
        self.oks_nms = oks_nms
        self.max_people = max_people
        self.whole_image = whole_image
        self.whole_image_overlap = whole_image_overlap
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
        boxes: (N, 4) person boxes (x, y, w, h) in image pixels, one prediction each, in their order;
            None = find the people (the detector; without one, the single most confident person).
        Returns a list of :class:`~posekit.types.Prediction` (keypoints (K, 3) = (x, y, score) in the
        image's pixels), sorted by score when found here; empty when nobody is found.
        """
        image = _checked_image(image)
        h, w = image.shape[:2]
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            if len(boxes) == 0:
                return []
            kps = self._predict_boxes(image, boxes)
            return [Prediction(k, float(k[:, 2].mean()), b, self.skeleton) for k, b in zip(kps, boxes)]
        if self.detector is not None:
            return self._predict_detected(image)
        candidates = [np.array([0.0, 0.0, w, h])]
        if self.use_detector:
            candidates += list(self.detect_people(image))
        kps, used = self._refine(image, np.stack(candidates))
        scores = kps[:, :, 2].mean(axis=1)
        best = int(np.argmax(scores))
        return [Prediction(kps[best], float(scores[best]), used[best], self.skeleton)]

    def _predict_detected(self, image: np.ndarray) -> list[Prediction]:
        """Top-down over the detector's boxes (plus the whole image, see ``whole_image``): pose, rescore,
        OKS-NMS, threshold."""
        boxes, box_scores = self.detector.detect(image)
        boxes, box_scores = boxes[: self.max_people * 2], box_scores[: self.max_people * 2]
        n_detected = len(boxes)
        h, w = image.shape[:2]
        # The whole image as one more candidate with a fixed prior "box score", so that a person filling a
        # person-centred photo (LSP-like) is posed even when the detector misses or mis-boxes them; only
        # where a person could fill the image: nobody detected, or the largest detection half its height.
        whole = self.whole_image > 0 and (n_detected == 0 or boxes[:, 3].max() >= 0.5 * h)
        image_box = np.array([[-0.5, -0.5, w, h]])
        if whole and n_detected and self.whole_image_overlap > 0:  # a detection is already that crop
            whole = box_iou(image_box, boxes).max() < self.whole_image_overlap
        if whole:
            boxes = np.concatenate([boxes, image_box])
            box_scores = np.concatenate([box_scores, [self.whole_image]])
        if len(boxes) == 0:
            return []
        kps, used = self._refine(image, boxes)
        scores = box_scores * keypoint_confidence(kps)
        if whole and n_detected:
            # beside detected people the whole-image pose must sit on one of them (IoU >= 0.3 of its
            # keypoint box with a detection), or it would be a skeleton strung across posts and road
            pose_box = self._box_of(kps[-1], used[-1])
            if box_iou(pose_box[None], boxes[:n_detected]).max() < 0.3:
                scores[-1] = 0.0
        keep = oks_nms(kps, scores, np.asarray(self.skeleton.oks_sigmas), self.oks_nms)
        keep = [i for i in keep if scores[i] >= self.person_threshold][: self.max_people]
        return [Prediction(kps[i], float(scores[i]), used[i], self.skeleton, box_score=float(box_scores[i]))
                for i in keep]

    def predict_video(self, path: str | Path) -> Iterator[tuple[int, np.ndarray, list[Prediction]]]:
        """Yield (frame_index, frame BGR, predictions) for each frame of a video. With a detector every
        frame is searched for every person (nothing carried over, so a person walking in is found at
        once); without one, the single person is tracked by re-cropping on the previous frame's
        keypoint box and re-searched when confidence drops."""
        prev: Prediction | None = None
        for index, frame in video_frames(path):
            if self.detector is None and prev is not None and prev.score > 0.3:
                box = self._box_of(prev.keypoints, prev.box)
                preds = self.predict(frame, boxes=[box])
                if preds[0].score < 0.3:
                    preds = self.predict(frame)
            else:
                preds = self.predict(frame)
            prev = preds[0] if preds else None
            yield index, frame, preds


def video_frames(path: str | Path) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, frame uint8 BGR) of every frame of a video; a ValueError when it cannot be opened."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f"cannot open video: {path}")
    index = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield index, frame
            index += 1
    finally:
        cap.release()


def _checked_image(image) -> np.ndarray:
    """A predictor's image argument as a uint8 BGR array (a path is read); clear errors otherwise."""
    if image is None:
        raise TypeError("predict() needs an image: a file path or an H x W x 3 uint8 BGR array, got None")
    if not isinstance(image, np.ndarray):
        image = read_image(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ValueError(f"image must be a non-empty H x W x 3 uint8 BGR array, got {image.dtype} {image.shape}")
    return image


class BottomUpPredictor:
    """Every person of a whole image at once, from a bottom-up network (part affinity fields, Cao et al.
    2017): the image is letterboxed into the network input (:func:`~posekit.data.bottomup.network_input`,
    as in training), the network gives part maps and affinity fields, and the model's
    :class:`~posekit.codecs.paf.PAFCodec` assembles people from them (line integrals, greedy matching limb by
    limb over the tree); keypoints go back to image pixels through the inverse letterbox.

    model: eval forward -> {"heatmaps": (N, K, h, w), "pafs": (N, 2L, h, w)} (a
        :class:`~posekit.models.paf.PAFNet` or its ONNX export). codec: the PAFCodec it trained with.
    skeleton: the model's keypoint definition. flip_test: average the maps and fields with those of the
        mirrored input (left/right joints and limbs swapped back, the fields' x component negated).
    person_threshold: people scoring less are not returned (the person score of
        :meth:`~posekit.codecs.paf.PAFCodec.decode_scored`, in [0, 1]). max_people: at most this many.
    padding: ``predict(image, boxes)`` looks at each box enlarged this much (as the top-down predictor).
    input_size: the side of the square network input (pixels, a multiple of 32); 0 = the codec's.
    """

    detector = None  # no person detector: the network finds the people itself

    def __init__(self, model: torch.nn.Module, codec: PAFCodec, skeleton: Skeleton, device: str | None = None,
                 flip_test: bool = PredictConfig.flip_test, person_threshold: float = PredictConfig.person_threshold,
                 max_people: int = PredictConfig.max_people, padding: float = 1.25,
                 input_size: int = PredictConfig.input_size) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.to(self.device).eval()
        self.codec = codec.resized(input_size) if input_size else codec
        self.skeleton = skeleton
        self.flip_test = flip_test
        self.person_threshold = person_threshold
        self.max_people = max_people
        self.padding = padding
        self.input_size = tuple(self.codec.input_size)
        self._flip = limb_flip(codec.limbs, skeleton.flip_index)  # (limb permutation, sign) of a mirrored input

    @torch.no_grad()
    def maps(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, H, W, 3) uint8 BGR network inputs -> (heatmaps (N, K, h, w), pafs (N, L, 2, h, w)) float32,
        flip-averaged when ``flip_test`` is set."""
        x = torch.stack([normalize_image(i) for i in inputs]).to(self.device)
        out, flipped = _forward(self.model, x, self.skeleton.flip_index if self.flip_test else None)
        n, k, h, w = out["heatmaps"].shape
        heatmaps = out["heatmaps"].float()
        pafs = out["pafs"].float().reshape(n, -1, 2, h, w)
        if flipped is not None:
            perm, sign = (torch.as_tensor(a, device=heatmaps.device) for a in self._flip)
            heatmaps = 0.5 * (heatmaps + torch.flip(flipped["heatmaps"].float(), dims=[3])[:, self.skeleton.flip_index])
            mirrored = torch.flip(flipped["pafs"].float().reshape(n, -1, 2, h, w), dims=[4])[:, perm]
            mirrored = mirrored * sign[None, :, None, None, None]
            mirrored = torch.stack([-mirrored[:, :, 0], mirrored[:, :, 1]], dim=2)  # mirror x back
            pafs = 0.5 * (pafs + mirrored)
        return heatmaps.cpu().numpy(), pafs.cpu().numpy()

    def _network_maps(self, image: np.ndarray, mats: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`maps` of the network inputs the image -> input matrices ``mats`` cut."""
        return self.maps(np.stack([network_input(image, m, self.input_size) for m in mats]))

    def _group(self, heatmaps: np.ndarray, pafs: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """One input's (K, h, w) maps and (L, 2, h, w) fields -> its people (keypoints (K, 3) in input pixels,
        score), best first: the PAF codec's greedy assembly."""
        return self.codec.decode_scored(heatmaps, pafs)

    def _people(self, image: np.ndarray, mats: list[np.ndarray]) -> list[list[tuple[np.ndarray, float]]]:
        """The people (keypoints (K, 3) in image pixels, score) seen through each image -> input matrix."""
        heatmaps, pafs = self._network_maps(image, mats)
        out = []
        for hm, pf, m in zip(heatmaps, pafs, mats):
            back = invert_affine(m)
            found = []
            for kp, score in self._group(hm, pf):
                kp = kp.copy()
                on = kp[:, 2] > 0
                kp[on, :2] = apply_affine(kp[on, :2], back)
                found.append((kp, float(score)))
            out.append(found)
        return out

    def predict(self, image: str | Path | np.ndarray, boxes: np.ndarray | list | None = None) -> list[Prediction]:
        """Predict poses.

        image: a path, or an H x W x 3 uint8 array in **BGR** order.
        boxes: None = every person of the image, sorted by score (empty when nobody is found); or (N, 4)
            person boxes (x, y, w, h) in image pixels: the region of each, enlarged ``padding`` times, is
            looked at on its own and the best-scoring person whose keypoints centre lies in the box is
            returned (keypoints all zero, score 0, when there is none), one prediction per box in their order.
        Keypoints (K, 3) = (x, y, score) in the image's pixels (missing joints all zero); a person's box is
        the extent of their keypoints (the given box with ``boxes``).
        """
        image = _checked_image(image)
        if boxes is not None:
            return self._predict_boxes(image, np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
        (people,) = self._people(image, [letterbox_matrix(image.shape[1::-1], self.input_size)])
        return [Prediction(kp, score, box_from_keypoints(kp), self.skeleton)
                for kp, score in people if score >= self.person_threshold][: self.max_people]

    def _predict_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[Prediction]:
        if len(boxes) == 0:
            return []
        aspect = self.input_size[0] / self.input_size[1]
        mats = [affine_matrix(*box_to_center_scale(box, aspect, self.padding), self.input_size) for box in boxes]
        out = []
        for box, people in zip(boxes, self._people(image, mats)):
            inside = [(kp, s) for kp, s in people
                      if _centre_inside(kp, box)] or people  # nobody centred in the box: the crop's best
            kp, score = inside[0] if inside else (np.zeros((self.skeleton.num_joints, 3)), 0.0)
            out.append(Prediction(kp, score, box, self.skeleton))
        return out

    def predict_video(self, path: str | Path) -> Iterator[tuple[int, np.ndarray, list[Prediction]]]:
        """Yield (frame_index, frame BGR, predictions) for each frame of a video: every frame on its own."""
        for index, frame in video_frames(path):
            yield index, frame, self.predict(frame)


class DeepCutPredictor(BottomUpPredictor):
    """Every person of a whole image by DeepCut (Pishchulin et al. 2016): the part confidence maps of a bottom-up
    network (this project's part affinity field network: a departure, the paper used its own part detector)
    give body-part candidates, learnt unary and pairwise probabilities score them
    (:mod:`posekit.grouping.deepcut`), and the joint subset partition and labeling ILP
    (:mod:`posekit.grouping.ilp`, HiGHS) picks, labels and groups them into people in one exact solve per
    image. The image handling -- letterbox, flip test, ``boxes``, video -- is :class:`BottomUpPredictor`'s.

    DeepCut is slow by design: the ILP's size grows with the square of the candidates (and its transitivity
    with their cube), so the candidates are capped (``max_per_class``, ``max_candidates``) and each image's
    solve stops at ``time_limit`` seconds with the best solution found (its status then says "time_limit").
    Every image's cost is recorded: :attr:`last_stats` (the latest image's candidates, ILP size, status and
    seconds) and :meth:`runtime_summary` (all images since construction).

    model, codec, skeleton, device, flip_test, max_people, padding: as :class:`BottomUpPredictor` (the codec
    gives the maps' geometry). pairwise: the :func:`posekit.grouping.deepcut.fit` model.
    threshold, max_per_class, max_candidates, max_classes, min_unary, time_limit, min_parts: see
    :func:`posekit.grouping.deepcut.group`. person_threshold: people whose DeepCut person score (mean over the
    K parts of their joints' unary probabilities) is lower are not returned.
    """

    def __init__(self, model: torch.nn.Module, codec: PAFCodec, skeleton: Skeleton, pairwise: dict,
                 device: str | None = None, flip_test: bool = PredictConfig.flip_test, person_threshold: float = 0.05,
                 max_people: int = PredictConfig.max_people, padding: float = 1.25, threshold: float = 0.1,
                 max_per_class: int = 8, max_candidates: int = 96, max_classes: int = 1, min_unary: float = 0.1,
                 time_limit: float = 10.0, min_parts: int = 3) -> None:
        super().__init__(model, codec, skeleton, device=device, flip_test=flip_test,
                         person_threshold=person_threshold, max_people=max_people, padding=padding)
        if int(pairwise["num_classes"]) != skeleton.num_joints:
            raise ValueError(f"the pairwise model has {pairwise['num_classes']} part classes, the part network "
                             f"{skeleton.num_joints}")
        self.pairwise = pairwise
        self.settings = {"threshold": float(threshold), "max_per_class": int(max_per_class),
                         "max_candidates": int(max_candidates), "max_classes": int(max_classes),
                         "min_unary": float(min_unary), "time_limit": float(time_limit), "min_parts": int(min_parts)}
        self.stats: list[dict] = []  # one entry per network input grouped (an image, or a box's crop)

    @property
    def last_stats(self) -> dict | None:
        """The latest grouped input's cost: candidates, ILP variables / constraints / triangles / rounds,
        solver status, ``ilp_seconds``, ``seconds`` (grouping) and ``network_seconds`` (its share of the
        network pass)."""
        return self.stats[-1] if self.stats else None

    def runtime_summary(self) -> dict:
        """Over every input grouped so far: count, median and max candidates and seconds, and how many solves
        hit the time limit."""
        if not self.stats:
            return {"inputs": 0}
        cand = np.array([s["candidates"] for s in self.stats])
        ilp = np.array([s["ilp_seconds"] for s in self.stats])
        total = np.array([s["seconds"] + s["network_seconds"] for s in self.stats])
        return {"inputs": len(self.stats), "median_candidates": float(np.median(cand)),
                "max_candidates": int(cand.max()),
                "median_ilp_seconds": round(float(np.median(ilp)), 4), "max_ilp_seconds": round(float(ilp.max()), 4),
                "median_seconds": round(float(np.median(total)), 4),
                "time_limit_hits": int(sum(s["status"] != "optimal" for s in self.stats)),
                "time_limit": self.settings["time_limit"]}

    def _network_maps(self, image: np.ndarray, mats: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        maps = super()._network_maps(image, mats)
        self._network_seconds = (time.perf_counter() - t0) / len(mats)  # each input's share, for its stats
        return maps

    def _group(self, heatmaps: np.ndarray, pafs: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """One input's people by the ILP (:func:`posekit.grouping.deepcut.group`); its cost goes to :attr:`stats`."""
        from posekit.grouping.deepcut import group, paf_feature

        paf_score = paf_feature(self.codec, pafs) if self.pairwise.get("use_paf") else None
        people, stats = group(heatmaps, self.pairwise, self.input_size, self.codec.heatmap_size, self.codec.sigma,
                              paf_score=paf_score, **self.settings)
        stats["network_seconds"] = round(self._network_seconds, 4)
        self.stats.append(stats)
        return people


def load_deepcut(path: Path, state: dict, device: str | None = None, overrides: list[str] | None = None,
                 backend: str = "auto", threads: int | None = None, predictor_kwargs: dict | None = None
                 ) -> DeepCutPredictor:
    """The :class:`DeepCutPredictor` a DeepCut weights file (:func:`posekit.grouping.deepcut.save_weights`)
    describes: its part network loaded by :func:`load_model` (any backend), its pairwise model and settings.
    ``overrides``: ``deepcut.KEY=VALUE`` change a stored DeepCut setting (e.g. ``deepcut.time_limit=30``), any
    other goes to the part network's config; ``predictor_kwargs`` override both."""
    import yaml

    from posekit.classic.io import from_storable

    overrides = list(overrides or [])
    settings = dict(from_storable(state.get("settings") or {}))
    for o in overrides:
        if o.startswith("deepcut."):
            key, _, value = o[len("deepcut."):].partition("=")
            settings[key] = yaml.safe_load(value)
    part = Path(state["part_detector"])
    if not part.exists() and not (WEIGHTS_DIR / f"{part}.pt").exists():
        # moved together: the named path relative to this file, or a file of that name beside it
        part = next((p for p in (path.parent / part, path.parent / part.name) if p.exists()), part)
    known = set(inspect.signature(DeepCutPredictor).parameters) - {"model", "codec", "skeleton", "pairwise", "device"}
    unknown = sorted((set(settings) | set(predictor_kwargs or {})) - known)
    if unknown:
        raise ValueError(f"{path}: unknown DeepCut settings {unknown}; known: {sorted(known)}")
    parts = load_model(part, device=device, overrides=[o for o in overrides if not o.startswith("deepcut.")],
                       backend=backend, threads=threads)
    if not isinstance(parts, BottomUpPredictor):
        raise ValueError(f"{path}: its part detector {part} is not a bottom-up network (data.kind: bottomup)")
    settings.update(predictor_kwargs or {})
    settings.setdefault("flip_test", parts.flip_test)
    settings.setdefault("max_people", parts.max_people)
    settings.setdefault("padding", parts.padding)
    return DeepCutPredictor(parts.model, parts.codec, parts.skeleton, from_storable(state["pairwise"]),
                            device=device, **settings)


def _centre_inside(keypoints: np.ndarray, box: np.ndarray) -> bool:
    """True when the mean of the found keypoints lies in the (x, y, w, h) box."""
    on = keypoints[:, 2] > 0
    if not on.any():
        return False
    cx, cy = keypoints[on, :2].mean(axis=0)
    return bool(box[0] <= cx <= box[0] + box[2] and box[1] <= cy <= box[1] + box[3])


def _checkpoint_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = WEIGHTS_DIR / f"{name_or_path}.pt"
    if shipped.exists():
        return shipped
    known = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
    raise FileNotFoundError(f"no model {name_or_path!r}: not a file, and not a shipped model (shipped: {known})")


def _numpy_array_globals() -> list:
    """What a pickled NumPy array needs (training checkpoints hold NumPy's RNG state): array
    reconstruction and dtypes only, nothing that can call arbitrary code."""
    core = getattr(np, "_core", None) or np.core
    return [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype("uint32")), type(np.dtype("float64"))]


def safe_load(path: str | Path) -> dict:
    """``torch.load`` that never executes code from the file (``weights_only=True``: tensors, plain
    containers, numbers, strings and NumPy arrays only). A file that needs anything else -- such as a
    pickled object whose loading would run code -- is refused with a ValueError naming the file, and
    nothing in it runs."""
    try:
        with torch.serialization.safe_globals(_numpy_array_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
        raise ValueError(f"{path}: refused: the file holds more than weights and settings ({first}); posekit "
                         "never runs code from a checkpoint. Re-export it from a trusted copy with "
                         "'posekit export' or load it yourself if you trust its source") from None
    except (OSError, RuntimeError, EOFError) as e:
        raise ValueError(f"{path}: cannot read as a checkpoint: {e}") from None


def read_checkpoint(path: str | Path) -> dict:
    """A posekit checkpoint as a dict (on the CPU), loaded without executing code (:func:`safe_load`);
    anything else is a ValueError naming the file."""
    return _checked(safe_load(path), path)


def _checked(state, path: str | Path) -> dict:
    """``state`` when it is a posekit checkpoint (a dict with 'model' and 'config'), else a ValueError."""
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


def detector_path(name: str, pose_path: str | Path) -> Path:
    """The checkpoint a pose model's ``predict.detector`` names: a path, a shipped detector's name, or a
    file beside the pose checkpoint."""
    if not Path(name).exists() and not (WEIGHTS_DIR / f"{name}.pt").exists():
        name = str(Path(pose_path).parent / name)
    return _checkpoint_path(name)


def load_detector(name_or_path: str | Path, device: str | None = None, size: int = PredictConfig.detector_size,
                  threshold: float = PredictConfig.detector_threshold) -> PersonDetector:
    """A :class:`PersonDetector` from a shipped detector name (``"detector"``) or a checkpoint path. The
    score calibration fitted on validation (``calibration`` in the checkpoint, if any) is applied."""
    path = _checkpoint_path(name_or_path)
    state = read_checkpoint(path)
    _, cfg = stored_config(state)
    if cfg.data.kind != "detection":
        raise ValueError(f"{path}: not a person detector (its config has data.kind {cfg.data.kind!r})")
    model = build_model(cfg)
    _load_state(model, state, path)
    return PersonDetector(model, _detector_codec(cfg, state.get("calibration")), device=device, size=size,
                          threshold=threshold)


def _detector_codec(cfg: Config, calibration) -> CenterBoxCodec:
    """A detector's box codec with the score calibration fitted on validation (identity when none)."""
    codec = build_codec(cfg)
    codec.calibration = tuple(calibration or (1.0, 0.0))
    return codec


BACKENDS = ("auto", "torch", "onnxruntime")


def resolve_backend(backend: str, device: str | None = None) -> str:
    """``"torch"`` or ``"onnxruntime"`` for a requested backend. ``"auto"``: ONNX Runtime where it is
    installed (the ``onnx`` extra) and the networks run on the CPU, else PyTorch."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    from posekit.onnx_backend import onnx_export_available

    on_cpu = (str(device).startswith("cpu") if device else not torch.cuda.is_available())
    return "onnxruntime" if on_cpu and onnx_export_available() else "torch"


def load_model(name_or_path: str | Path = "default", device: str | None = None, overrides: list[str] | None = None,
               backend: str = "auto", threads: int | None = None, **predictor_kwargs
               ) -> Predictor | BottomUpPredictor | DeepCutPredictor:
    """A :class:`Predictor` from a shipped model name (``"default"``), a checkpoint path, or a folder
    exported by ``posekit export --format onnx``; a :class:`BottomUpPredictor` for a bottom-up model (a
    config with ``data.kind: bottomup``, e.g. part affinity fields). A classic weights file
    (``posekit.classic``: ``ps``, ``pcps``, ``ps_cnn``) gives that method's predictor, with the same
    ``predict(image, boxes=None) -> list[Prediction]`` (it takes no overrides). A DeepCut weights file
    (:mod:`posekit.grouping.deepcut`) gives a :class:`DeepCutPredictor` over the part network it names.

    ``overrides`` are dotted ``key=value`` changes to the checkpoint's stored config applied before the
    model is built, e.g. ``["model.kwargs.stages_used=1"]`` to run DeepPose's first stage alone, or
    ``["predict.detector="]`` to run without the person detector. ``predictor_kwargs`` override the
    stored ``predict`` settings (``detector`` may then be a :class:`PersonDetector`).

    backend: "torch", "onnxruntime" (the networks run by ONNX Runtime on the CPU: a checkpoint is exported
        once into ``~/.cache/posekit/onnx``, see :mod:`posekit.onnx_backend`), or "auto" (ONNX Runtime
        where it is installed and the device is the CPU, else PyTorch). Everything around the networks is
        the same code on both.
    threads: ONNX Runtime's threads (None = ``torch.get_num_threads()``); PyTorch's are the caller's
        ``torch.set_num_threads``."""
    path = _checkpoint_path(name_or_path)
    from posekit.onnx_backend import is_export

    if is_export(path):
        if backend == "torch":
            raise ValueError(f"{path} is an ONNX export: it runs with backend 'onnxruntime' (or 'auto')")
        return _load_onnx(path, overrides, threads, predictor_kwargs)
    state = safe_load(path)
    from posekit.classic.io import build_predictor, is_classic
    from posekit.grouping.deepcut import is_weights as is_deepcut

    if is_deepcut(state):  # DeepCut: a part network's checkpoint + the pairwise model, grouped by an ILP
        return load_deepcut(path, state, device, overrides, backend, threads, predictor_kwargs)

    if is_classic(state):  # pictorial structures & co. (posekit.classic): no network config to build
        if overrides or predictor_kwargs:
            raise ValueError(f"{path}: a classic model ({state['classic']}) takes no overrides or predictor settings")
        return build_predictor(state, device)
    state = _checked(state, path)
    config, cfg = stored_config(state, overrides)
    if cfg.data.kind == "detection":
        raise ValueError(f"{path} is a person detector, not a pose model; pose models name it in predict.detector")
    if resolve_backend(backend, device) == "onnxruntime":
        from posekit.onnx_backend import cached_export

        # the overrides that shape the exported networks (the model's, and which detector) go into the
        # export; the other predict.* settings apply at load, so changing them needs no new export
        shaping = [o for o in overrides or [] if not o.startswith("predict.") or o.startswith("predict.detector=")]
        settings = [o for o in overrides or [] if o not in shaping]
        # (cfg's detector is the shaping one: the other predict.* overrides never name a detector)
        detector_file = detector_path(cfg.predict.detector, path) if cfg.predict.detector else None
        return _load_onnx(cached_export(path, shaping, detector_file), settings, threads, predictor_kwargs)
    model = build_model(cfg)
    _load_state(model, state, path)

    def detector() -> PersonDetector | None:
        name = cfg.predict.detector
        return load_detector(detector_path(name, path), device, cfg.predict.detector_size,
                             cfg.predict.detector_threshold) if name else None

    return _assemble(cfg, config, model, detector, device, predictor_kwargs)


def _assemble(cfg: Config, config: dict, model, detector, device: str | None, predictor_kwargs: dict
              ) -> Predictor | BottomUpPredictor:
    """The :class:`Predictor` for a pose network (PyTorch module or ONNX Runtime network) and its stored
    config: the settings stored with the weights unless ``predictor_kwargs`` says otherwise; ``detector``
    builds the person detector (called only when ``predictor_kwargs`` names none). A bottom-up model
    (``data.kind: bottomup``) gets a :class:`BottomUpPredictor`."""
    codec = build_codec(cfg)
    skeleton = get_skeleton(cfg.model.skeleton)
    predictor_kwargs = dict(predictor_kwargs)
    predictor_kwargs.setdefault("padding", cfg.data.padding)
    if cfg.data.kind == "bottomup":  # no detector, no crops: the stored settings that apply to it
        for key in ("flip_test", "person_threshold", "max_people", "input_size"):
            predictor_kwargs.setdefault(key, getattr(cfg.predict, key))
        return BottomUpPredictor(model, codec, skeleton, device=device, **predictor_kwargs)
    if "use_detector" not in (config.get("predict") or {}):
        # saved before HOG candidates became opt-in (2026-11-29): they were on, and the benchmark rows of
        # those checkpoints were measured with them -- keep them reproducible (an override still wins)
        predictor_kwargs.setdefault("use_detector", True)
    settings = dataclasses.asdict(cfg.predict)
    for key in ("detector", "detector_size", "detector_threshold"):
        settings.pop(key)
    if settings.pop("input_size"):
        raise ValueError("predict.input_size applies to bottom-up models only; a top-down model's crops are "
                         f"codec.input_size ({list(cfg.codec.input_size)}), fixed by its training")
    for key, value in settings.items():  # settings stored with the weights
        predictor_kwargs.setdefault(key, value)
    if "detector" not in predictor_kwargs:
        predictor_kwargs["detector"] = detector()
    return Predictor(model, codec, skeleton, device=device, **predictor_kwargs)


def _load_onnx(folder: Path, overrides: list[str] | None, threads: int | None, predictor_kwargs: dict) -> Predictor:
    """A :class:`Predictor` whose networks are an exported folder's ONNX files run by ONNX Runtime; only
    ``predict.*`` overrides apply (the rest of the config is baked into the networks)."""
    from posekit.onnx_backend import OnnxNetwork, read_manifest

    bad = [o for o in overrides or [] if not o.startswith("predict.")]
    if bad:
        raise ValueError(f"{folder}: an ONNX export takes only predict.* overrides (the rest is in its networks): "
                         f"{', '.join(bad)}")
    manifest = read_manifest(folder)
    config, cfg = stored_config({"config": manifest["pose"]["config"]}, overrides)
    model = OnnxNetwork(folder / manifest["pose"]["file"], threads)

    def detector() -> PersonDetector | None:
        det = manifest.get("detector")
        if not det or not cfg.predict.detector:
            return None
        _, det_cfg = stored_config({"config": det["config"]})
        return PersonDetector(OnnxNetwork(folder / det["file"], threads), _detector_codec(det_cfg, det["calibration"]),
                              device="cpu", size=cfg.predict.detector_size, threshold=cfg.predict.detector_threshold)

    return _assemble(cfg, config, model, detector, "cpu", predictor_kwargs)


def export_checkpoint(checkpoint: str | Path, out: str | Path, half: bool = True,
                      overrides: list[str] | None = None) -> Path:
    """Keep only what prediction needs from a training checkpoint: the weights (float16 storage by
    default: half the size, no measurable accuracy change; loaded back as float32), the resolved
    config (with dotted ``overrides`` applied, e.g. ``predict.refine_steps=4``), the step and the git
    revision it was trained at, and a detector's score calibration."""
    state = read_checkpoint(checkpoint)
    config, _ = stored_config(state, overrides)  # a bad override fails here, not when the export is loaded
    weights = {k: v.half() if half and v.is_floating_point() else v for k, v in state["model"].items()}
    slim = {"model": weights, "config": config, "step": state.get("step"),
            "git_revision": state.get("git_revision"), "best_val": state.get("best_val")}
    if state.get("calibration") is not None:  # a detector's score calibration (benchmarks/tune_pipeline.py)
        slim["calibration"] = [float(v) for v in state["calibration"]]
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
