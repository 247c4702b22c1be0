"""Top-down prediction (G-RMI, Papandreou et al. 2017): a person detector proposes boxes, the pose network
poses each box.

The network runs on each box enlarged by ``padding`` (x 1.25), optionally re-cropping on the box implied by
its own keypoints (``refine_steps``, the DeepPose-cascade idea applied with the same network); each person
is scored box score x mean keypoint score (the rescoring of the COCO top-down protocol), OKS-NMS removes
duplicates, and people under ``person_threshold`` are dropped, so an image with nobody in it gives an empty
list.

What it costs is the number of crops the network sees (boxes x (1 + refine passes) x 2 with the flip test), so the
pipeline poses no more than it must: a box whose score could not pass ``person_threshold`` even with every keypoint
at full confidence is not posed (``skip_hopeless``: the output is unchanged), and a box whose re-crop would look at
(nearly) the same region is not re-posed (``refine_iou``). All crops of a pass, with their mirror images, go through
the network as one batch.

Without a detector (models trained before there was one): the single most confident person is searched
for: the whole image (plus OpenCV's HOG people boxes when ``use_detector`` is set) is a candidate, refined
by re-cropping, and the candidate with the highest mean keypoint score is returned; in a video that person
is followed by re-cropping on the previous frame's keypoint box.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from posekit.codecs.boxes import box_iou
from posekit.codecs.heatmap import HeatmapCodec
from posekit.config import PredictConfig
from posekit.data.transforms import affine_matrix, apply_affine, box_to_center_scale, invert_affine, warp
from posekit.predict.base import Predictor
from posekit.predict.detectors import HOGDetector, PersonDetector
from posekit.predict.flip import NUMPY_MIRRORED, decode_crops, mirror_average, mirror_average_numpy
from posekit.predict.people import keypoint_confidence, oks_nms
from posekit.preprocess import normalize_images
from posekit.skeletons import Skeleton
from posekit.types import Prediction, box_from_keypoints

#: the highest pose confidence (:func:`~posekit.predict.people.keypoint_confidence`) a person can get: heatmaps are
#: trained towards peaks of 1 (a box scoring under person_threshold / this cannot be returned)
MAX_POSE_CONFIDENCE = 1.0


class TopDownPredictor(Predictor):
    """Pose predictor for whole images: top-down with a person detector, or the single-person search.

    model: a heatmap (or regression) model whose eval forward returns {"heatmaps": (N, K, h, w)} (or
        {"coords": ...}); a PyTorch module or its ONNX Runtime export.
    codec: the HeatmapCodec it was trained with (input size, heatmap size, decoding).
    skeleton: the model's keypoint definition.
    detector: a :class:`~posekit.predict.detectors.PersonDetector` (None = single-person search, see the
        module docstring).
    padding: box enlargement around a person (training used the same).
    flip_test: average the heatmaps of the image and its mirror (with left/right channels swapped).
    refine_steps: re-crop passes on the box implied by the previous pass's keypoints.
    box_threshold: the keypoints that imply that box are those scoring at least this fraction of the
        pass's best keypoint score (0 = all of them).
    use_detector: HOG candidates in the detector-less search.
    person_threshold, oks_nms, max_people, whole_image, whole_image_overlap, video_refine_steps: see
        :class:`~posekit.config.PredictConfig` (for the detector's people; the detector-less search always
        returns its one best candidate).
    skip_hopeless: do not pose a detector box (or the whole-image candidate) whose box score x
        :data:`MAX_POSE_CONFIDENCE` is under ``person_threshold``: it could not be returned, and a person
        under the threshold can only suppress people scoring lower still in OKS-NMS, so the output is the same.
    refine_iou: a box is re-cropped only where the box of its keypoints, as cropped, overlaps the box it was posed
        in with IoU under this (1.0 = whenever the two differ at all: the same output as re-cropping every box,
        since the same crop gives the same keypoints; lower = fewer crops, a trade-off measured in
        ``benchmarks/speed_pipeline.md``).
    refine_confidence: nor is a box whose pose already has this confidence
        (:func:`~posekit.predict.people.keypoint_confidence`) or more (inf = no such skip).

    After each image with a detector, ``last_timing`` holds the seconds spent in the detector and in the pose stage
    (crops, network, decoding, OKS-NMS), and ``last_crops`` the number of crops the network saw.
    """

    def __init__(self, model, codec: HeatmapCodec, skeleton: Skeleton, device: str | None = None,
                 padding: float = 1.25, flip_test: bool = PredictConfig.flip_test,
                 refine_steps: int = PredictConfig.refine_steps, use_detector: bool = PredictConfig.use_detector,
                 box_threshold: float = PredictConfig.box_threshold, detector: PersonDetector | None = None,
                 person_threshold: float = PredictConfig.person_threshold, oks_nms: float = PredictConfig.oks_nms,
                 max_people: int = PredictConfig.max_people, whole_image: float = PredictConfig.whole_image,
                 whole_image_overlap: float = PredictConfig.whole_image_overlap, skip_hopeless: bool = True,
                 refine_iou: float = 1.0, refine_confidence: float = math.inf,
                 video_refine_steps: int = PredictConfig.video_refine_steps) -> None:
        super().__init__(skeleton, device, flip_test)
        self.model = model.to(self.device).eval()
        self.codec = codec
        self.padding = padding
        self.refine_steps = refine_steps
        self.use_detector = use_detector
        self.box_threshold = box_threshold
        self.detector = detector
        self.person_threshold = person_threshold
        self.oks_nms = oks_nms
        self.max_people = max_people
        self.whole_image = whole_image
        self.whole_image_overlap = whole_image_overlap
        self.skip_hopeless = skip_hopeless
        self.refine_iou = refine_iou
        self.refine_confidence = refine_confidence
        self.video_refine_steps = video_refine_steps
        self.last_timing: dict[str, float] | None = None
        self.last_crops = 0
        self.input_size = tuple(codec.input_size)
        self._hog: HOGDetector | None = None

    def settings(self) -> dict:
        """The pipeline's settings as constructor keyword arguments (the detector included)."""
        return {key: getattr(self, key) for key in ("padding", "flip_test", "refine_steps", "use_detector",
                                                     "box_threshold", "detector", "person_threshold", "oks_nms",
                                                     "max_people", "whole_image", "whole_image_overlap",
                                                     "skip_hopeless", "refine_iou", "refine_confidence",
                                                     "video_refine_steps")}

    def _video_settings(self) -> dict:
        # the detector's pipeline only: the detector-less search follows its one person by re-cropping
        if self.detector is None or self.video_refine_steps < 0:
            return {}
        return {"refine_steps": self.video_refine_steps}

    # ------------------------------------------------------------------------------------- core
    @torch.no_grad()
    def _network_outputs(self, model, inputs: np.ndarray, limb_flip=None) -> dict[str, torch.Tensor]:
        """The base's network pass (the same numbers), done batch-wide: one NumPy normalisation over every crop,
        the mirror images made from the normalised batch and run with the originals in one batch, and (on the
        CPU) the mirrored outputs averaged back in NumPy; outputs that decoding does not read (a dark- or
        arg-max-decoded model's offsets) are left out."""
        x = normalize_images(inputs)
        flip_index = self.skeleton.flip_index if self.flip_test else None
        both = model(torch.from_numpy(np.concatenate([x, x[..., ::-1]]) if flip_index is not None else x
                                      ).to(self.device))
        if self.codec.refine != "offsets":
            both.pop("offsets", None)
        n = len(x)
        out = {k: v[:n] for k, v in both.items()}
        flipped = {k: v[n:] for k, v in both.items()} if flip_index is not None else None
        if any(v.device.type != "cpu" for v in both.values()) or not set(both) <= set(NUMPY_MIRRORED):
            return mirror_average(out, flipped, flip_index, limb_flip)
        out = {k: v.float().numpy() for k, v in out.items()}
        flipped = None if flipped is None else {k: v.float().numpy() for k, v in flipped.items()}
        return {k: torch.from_numpy(v) for k, v in mirror_average_numpy(out, flipped, flip_index).items()}

    def _keypoints(self, crops: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 BGR crops -> keypoints (N, K, 3) in crop pixels (flip-averaged if enabled)."""
        return decode_crops(self._network_outputs(self.model, crops), self.codec)

    def _pose_boxes(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Keypoints (N, K, 3) in image pixels for (N, 4) boxes (x, y, w, h)."""
        aspect = self.input_size[0] / self.input_size[1]
        mats, crops = [], []
        for box in boxes:
            center, size = box_to_center_scale(box, aspect, self.padding)
            m = affine_matrix(center, size, self.input_size)
            mats.append(m)
            crops.append(warp(image, m, self.input_size, antialias=True))  # as the training crops
        self.last_crops += len(crops) * (2 if self.flip_test else 1)
        kps = self._keypoints(np.stack(crops))
        out = np.empty_like(kps, dtype=np.float64)
        for i, m in enumerate(mats):
            out[i, :, :2] = apply_affine(kps[i, :, :2], invert_affine(m))
            out[i, :, 2] = kps[i, :, 2]
        return out

    def _refine(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the model on ``boxes``, then re-crop ``refine_steps`` times on the keypoints' own box."""
        kps = self._pose_boxes(image, boxes)
        for _ in range(self.refine_steps):
            new = np.stack([self._box_of(k, b) for k, b in zip(kps, boxes)])
            moved = (self._crop_iou(boxes, new) < self.refine_iou) & (keypoint_confidence(kps) < self.refine_confidence)
            if not moved.any():
                break
            kps, boxes = kps.copy(), boxes.copy()
            kps[moved] = self._pose_boxes(image, new[moved])
            boxes[moved] = new[moved]
        return kps, boxes

    def _crop_iou(self, boxes: np.ndarray, new: np.ndarray) -> np.ndarray:
        """(N,) IoU of the regions cropped for ``boxes`` and for ``new`` (N, 4) (padded to the input's aspect):
        1 where they are the same crop."""
        aspect = self.input_size[0] / self.input_size[1]
        out = np.empty(len(boxes))
        for i, (a, b) in enumerate(zip(boxes, new)):
            if np.array_equal(a, b):
                out[i] = 1.0
                continue
            crops = []
            for box in (a, b):
                center, size = box_to_center_scale(box, aspect, self.padding)
                crops.append(np.concatenate([np.asarray(center) - np.asarray(size) / 2, size]))
            out[i] = box_iou(crops[0][None], crops[1][None])[0, 0]
        return out

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
            self._hog = HOGDetector()
        return self._hog.detect(image)[0]

    # ---------------------------------------------------------------------------- the pipeline
    def _predict_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[Prediction]:
        kps = self._pose_boxes(image, boxes)
        return [Prediction(k, float(k[:, 2].mean()), b, self.skeleton) for k, b in zip(kps, boxes)]

    def _predict_image(self, image: np.ndarray) -> list[Prediction]:
        if self.detector is not None:
            return self._predict_detected(image)
        h, w = image.shape[:2]
        candidates = [np.array([0.0, 0.0, w, h])]
        if self.use_detector:
            candidates += list(self.detect_people(image))
        kps, used = self._refine(image, np.stack(candidates))
        scores = kps[:, :, 2].mean(axis=1)
        best = int(np.argmax(scores))
        return [Prediction(kps[best], float(scores[best]), used[best], self.skeleton)]

    def _whole_image_candidate(self, image: np.ndarray, boxes: np.ndarray) -> bool:
        """Whether the whole image joins the detector's boxes as one more candidate (with a fixed prior "box
        score", ``whole_image``), so that a person filling a person-centred photo (LSP-like) is posed even when
        the detector misses or mis-boxes them; only where a person could fill the image: nobody detected, or
        the largest detection half its height, and no detection already that crop."""
        h, w = image.shape[:2]
        if self.whole_image <= 0 or (len(boxes) and boxes[:, 3].max() < 0.5 * h):
            return False
        if len(boxes) and self.whole_image_overlap > 0:
            return box_iou(np.array([[-0.5, -0.5, w, h]]), boxes).max() < self.whole_image_overlap
        return True

    def _predict_detected(self, image: np.ndarray) -> list[Prediction]:
        """Top-down over the detector's boxes (plus the whole image): pose, rescore, OKS-NMS, threshold."""
        start = time.perf_counter()
        boxes, box_scores = self.detector.detect(image)
        detected = time.perf_counter()
        self.last_crops = 0
        people = self._pose_detected(image, boxes[: self.max_people * 2], box_scores[: self.max_people * 2])
        self.last_timing = {"detector": detected - start, "pose": time.perf_counter() - detected}
        return people

    def _pose_detected(self, image: np.ndarray, boxes: np.ndarray, box_scores: np.ndarray) -> list[Prediction]:
        """The people of the detector's ``boxes`` (N, 4) with ``box_scores`` (N,), by score."""
        n_detected = len(boxes)
        h, w = image.shape[:2]
        whole = self._whole_image_candidate(image, boxes)
        if whole:
            boxes = np.concatenate([boxes, [[-0.5, -0.5, w, h]]])
            box_scores = np.concatenate([box_scores, [self.whole_image]])
        posed = np.ones(len(boxes), bool)
        if self.skip_hopeless:  # (see the class docstring: these could not be returned)
            posed = box_scores * MAX_POSE_CONFIDENCE >= self.person_threshold
        if not posed.any():
            return []
        kps = np.zeros((len(boxes), self.skeleton.num_joints, 3))
        used = boxes.astype(np.float64)
        kps[posed], used[posed] = self._refine(image, boxes[posed])
        scores = box_scores * keypoint_confidence(kps)
        if whole and n_detected and posed[-1]:
            # beside detected people the whole-image pose must sit on one of them (IoU >= 0.3 of its
            # keypoint box with a detection), or it would be a skeleton strung across posts and road
            pose_box = self._box_of(kps[-1], used[-1])
            if box_iou(pose_box[None], boxes[:n_detected]).max() < 0.3:
                scores[-1] = 0.0
        idx = np.flatnonzero(posed)
        keep = idx[oks_nms(kps[idx], scores[idx], np.asarray(self.skeleton.oks_sigmas), self.oks_nms)]
        keep = [i for i in keep if scores[i] >= self.person_threshold][: self.max_people]
        return [Prediction(kps[i], float(scores[i]), used[i], self.skeleton, box_score=float(box_scores[i]))
                for i in keep]

    def _predict_frame(self, frame: np.ndarray, previous: list[Prediction]) -> list[Prediction]:
        """With a detector every frame is searched for every person (nothing carried over, so a person walking
        in is found at once); without one, the single person is followed by re-cropping on the previous
        frame's keypoint box and searched afresh when confidence drops."""
        prev = previous[0] if previous else None
        if self.detector is None and prev is not None and prev.score > 0.3:
            preds = self.predict(frame, boxes=[self._box_of(prev.keypoints, prev.box)])
            if preds[0].score >= 0.3:
                return preds
        return self.predict(frame)
