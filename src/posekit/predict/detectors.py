"""Person detectors behind one small interface: ``detect(image) -> (boxes (N, 4), scores (N,))``.

A top-down pipeline (:mod:`posekit.predict.topdown`) asks its detector for boxes and poses each; any
object with this ``detect`` method can stand in (:class:`PersonDetector` below, or one of your own).

- :class:`CenterNetDetector`: posekit's trained CenterNet (:mod:`posekit.models.centernet`), PyTorch or its
  ONNX export;
- :class:`YoloxDetector`: Megvii's YOLOX-nano trained on COCO (Ge et al. 2021), an off-the-shelf detector run by
  ONNX Runtime, as G-RMI used an off-the-shelf COCO detector (its person class only);
- :class:`HOGDetector`: OpenCV's HOG + linear SVM people detector (Dalal & Triggs 2005), for models that
  ship without a detector.

Boxes are x, y, w, h in the image's pixels, sorted by score.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np
import torch

from posekit.codecs.boxes import CenterBoxCodec, nms
from posekit.preprocess import boxes_to_image, input_size_for, letterbox, letterbox_matrix, normalize_image
from posekit.runtime.device import default_device


class PersonDetector(Protocol):
    """What a top-down pipeline needs of a person detector."""

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (N, 4) x, y, w, h in image pixels, scores (N,)) for a uint8 BGR image, by score."""
        ...


class CenterNetDetector:
    """Boxes of people in a whole image, from a :class:`~posekit.models.centernet.CenterNet`.

    The image is letterboxed to ``size`` on its longer side, or its own size when smaller (never enlarged;
    the aspect kept, sides rounded up to multiples of 32), the centre heatmap decoded by ``codec`` (its
    calibration applied), boxes mapped back to image pixels and clipped to the image.
    """

    def __init__(self, model, codec: CenterBoxCodec, device: str | torch.device | None = None,
                 size: int = 256, threshold: float = 0.2, iou_threshold: float = 0.6, max_boxes: int = 30) -> None:
        self.device = default_device(device)
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
        size = input_size_for(image.shape, min(self.size, max(image.shape[:2])))
        M = letterbox_matrix(image.shape[1::-1], size)
        x = normalize_image(letterbox(image, M, size))[None].to(self.device)
        out = self.model(x)
        codec = CenterBoxCodec(size, (size[0] // 4, size[1] // 4), calibration=self.codec.calibration)
        boxes, scores = codec.decode(out["centers"][0, 0].cpu().numpy(), out["sizes"][0].cpu().numpy(),
                                     out["offsets"][0].cpu().numpy(), threshold=self.threshold,
                                     iou_threshold=self.iou_threshold, max_boxes=self.max_boxes)
        return clip_boxes(boxes_to_image(boxes, M), image.shape), scores


class YoloxDetector:
    """Person boxes from a YOLOX ONNX export (the Megvii export format: input "images" (1, 3, S, S) float32 BGR
    pixel values 0-255, the photo resized by one factor to fit S x S and placed top-left on grey 114; output
    (1, A, 5 + 80): per anchor point of the stride-8, 16 and 32 grids, box centre and log size in grid units,
    objectness, 80 COCO class probabilities).

    A box's score is objectness x person probability (COCO class 0); boxes scoring ``threshold`` or more are kept
    after greedy NMS at ``iou_threshold`` (YOLOX's own 0.45), at most ``max_boxes``.
    """

    def __init__(self, path, threshold: float = 0.1, iou_threshold: float = 0.45, max_boxes: int = 30,
                 threads: int | None = None) -> None:
        from posekit.runtime.onnx import OnnxNetwork

        self.path = path
        self.network = OnnxNetwork(path, threads)
        shape = self.network.session.get_inputs()[0].shape
        self.size = int(shape[2])
        self.threshold = float(threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_boxes = int(max_boxes)
        self._grid = _anchor_grid(self.size)

    def network_input(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """((1, 3, S, S) float32 input, resize factor) for a uint8 BGR image."""
        h, w = image.shape[:2]
        ratio = min(self.size / h, self.size / w)
        resized = cv2.resize(image, (int(w * ratio), int(h * ratio)), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((self.size, self.size, 3), 114, np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        return np.ascontiguousarray(canvas.transpose(2, 0, 1)[None], dtype=np.float32), ratio

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, ratio = self.network_input(image)
        (out,) = self.network(torch.from_numpy(x)).values()
        pred = out[0].numpy()[:, :6].astype(np.float64)  # box, objectness, person: the other 79 classes unread
        scores = pred[:, 4] * pred[:, 5]  # objectness x P(person)
        keep = scores >= self.threshold
        cells, strides = (a[keep] for a in self._grid)  # only the anchors kept are decoded
        centre = (pred[keep, :2] + cells) * strides
        size = np.exp(np.clip(pred[keep, 2:4], -10, 10)) * strides
        boxes = np.concatenate([centre - size / 2, size], axis=1) / ratio
        scores = scores[keep]  # (boxes in COCO's bbox frame, as posekit reads COCO's annotated boxes)
        order = nms(boxes, scores, self.iou_threshold)[: self.max_boxes]
        return clip_boxes(boxes[order], image.shape), scores[order]


def _anchor_grid(size: int, strides: tuple[int, ...] = (8, 16, 32)) -> tuple[np.ndarray, np.ndarray]:
    """((A, 2) cell x, y, (A, 1) stride) of YOLOX's anchor points, in its output's order."""
    cells, steps = [], []
    for stride in strides:
        n = size // stride
        ys, xs = np.mgrid[0:n, 0:n]
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        steps.append(np.full((n * n, 1), stride))
    return np.concatenate(cells).astype(np.float64), np.concatenate(steps).astype(np.float64)


class HOGDetector:
    """OpenCV's HOG people detector: at most ``max_boxes`` boxes, on the image shrunk to 640 px at most;
    nothing on images under 128 px (its window). Its scores are SVM margins, not probabilities."""

    def __init__(self, max_boxes: int = 5) -> None:
        if not hasattr(cv2, "HOGDescriptor"):  # OpenCV 5 moved it out of the main module
            raise RuntimeError(f"OpenCV {cv2.__version__} has no HOG people detector: install "
                               "'opencv-python-headless<5' (as posekit requires), or pass boxes to predict()")
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.max_boxes = max_boxes

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        scale = min(1.0, 640.0 / max(h, w))
        small = cv2.resize(image, None, fx=scale, fy=scale) if scale < 1 else image
        if min(small.shape[:2]) < 128:
            return np.zeros((0, 4)), np.zeros(0)
        rects, weights = self.hog.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return np.zeros((0, 4)), np.zeros(0)
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        order = np.argsort(-weights)[: self.max_boxes]
        return np.asarray(rects, dtype=np.float64)[order] / scale, weights[order]


def clip_boxes(boxes: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """(N, 4) x, y, w, h boxes clipped to the image: a person cut by the frame is posed on what is there."""
    h, w = image_shape[:2]
    x0 = np.clip(boxes[:, 0], -0.5, w - 0.5)
    y0 = np.clip(boxes[:, 1], -0.5, h - 0.5)
    x1 = np.clip(boxes[:, 0] + boxes[:, 2], -0.5, w - 0.5)
    y1 = np.clip(boxes[:, 1] + boxes[:, 3], -0.5, h - 0.5)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
