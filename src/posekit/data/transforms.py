"""Geometric and photometric transforms for top-down pose crops.

Coordinates follow :mod:`posekit.types`: pixel *centres* at integers, x right, y down. An image of
width W covers the continuous interval [-0.5, W - 0.5] in x (likewise y). OpenCV's ``warpAffine`` uses
the same convention, so a 2x3 matrix ``M`` built here maps image pixels to output pixels and
``warp(image, M, ...)`` puts image pixel ``p`` at output pixel ``M @ [p, 1]``.

The crop of a person is described by a ``center`` (2,) and a ``size`` (2,) = (w, h) of the region in
image pixels; :func:`affine_matrix` maps that region onto an output of ``output_size`` = (W, H) pixels,
optionally rotated and mirrored. After a mirrored warp the joint order must be permuted with
``skeleton.flip_index`` so that ``left_*`` still means the person's own left
(:func:`transform_keypoints` does both).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "AffineParams",
    "TopDownAugment",
    "affine_matrix",
    "apply_affine",
    "box_to_center_scale",
    "compose_affine",
    "invert_affine",
    "photometric_jitter",
    "transform_keypoints",
    "warp",
]


def box_to_center_scale(
    box: np.ndarray, aspect: float, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Crop region for a person box.

    box: (4,) (x, y, w, h) in image pixels, treated as the continuous region [x, x + w] x [y, y + h]
        (so a box made by :func:`posekit.types.box_from_keypoints` is centred on its keypoints).
    aspect: width / height of the output the region will be warped to.
    padding: growth factor applied after matching the aspect (1.25 is the usual top-down margin).

    Returns ``center`` (2,) and ``size`` (2,) = (w, h) of the region in image pixels, float64: the
    shorter side is grown so that w / h == aspect, then both are multiplied by ``padding``. A degenerate
    box (both sides < 1 px) yields a 1 px region times padding; callers should skip such people.
    """
    x, y, w, h = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    center = np.array([x + w / 2.0, y + h / 2.0])
    w, h = max(w, 0.0), max(h, 0.0)
    if w < 1.0 and h < 1.0:
        w, h = 1.0, 1.0
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    return center, np.array([w, h]) * padding


_GREY_BGR = np.array([0.114, 0.587, 0.299])  # ITU-R BT.601 luma weights, BGR order


def _to3(M: np.ndarray) -> np.ndarray:
    out = np.eye(3)
    out[:2] = M
    return out


def affine_matrix(
    center: np.ndarray,
    size: np.ndarray,
    output_size: tuple[int, int],
    rotation_deg: float = 0.0,
    flip: bool = False,
) -> np.ndarray:
    """(2, 3) float64 matrix mapping image pixels to output pixels.

    The region's ``center`` (image pixels) goes to the output centre ((W - 1) / 2, (H - 1) / 2) and its
    ``size`` (w, h) to the output's full extent W x H (the region's edges land on the output's outer
    pixel edges -0.5 and W - 0.5). ``rotation_deg`` > 0 turns the image content counter-clockwise as
    displayed (OpenCV's ``getRotationMatrix2D`` sense), rotating about the region centre before scaling.
    ``flip`` mirrors the result horizontally within the output (x -> W - 1 - x); permute joints with
    ``skeleton.flip_index`` afterwards (:func:`transform_keypoints`).
    """
    W, H = output_size
    c = np.asarray(center, dtype=np.float64).reshape(2)
    s = np.asarray(size, dtype=np.float64).reshape(2)
    if not (s > 0).all():
        raise ValueError(f"region size must be positive, got {s}")
    t = math.radians(rotation_deg)
    cos, sin = math.cos(t), math.sin(t)
    # y points down, so a counter-clockwise turn on screen is [[cos, sin], [-sin, cos]].
    R = np.array([[cos, sin], [-sin, cos]])
    S = np.diag([W / s[0], H / s[1]])
    A = S @ R
    if flip:
        A = np.diag([-1.0, 1.0]) @ A
    o = np.array([(W - 1) / 2.0, (H - 1) / 2.0])
    M = np.empty((2, 3))
    M[:, :2] = A
    M[:, 2] = o - A @ c
    return M


def invert_affine(M: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix, as (2, 3) float64 (e.g. output pixels -> image pixels)."""
    return np.linalg.inv(_to3(np.asarray(M, dtype=np.float64)))[:2].copy()


def compose_affine(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """(2, 3) matrix applying ``first`` then ``second``."""
    return (_to3(np.asarray(second, dtype=np.float64)) @ _to3(np.asarray(first, dtype=np.float64)))[:2].copy()


def apply_affine(points: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to points of shape (..., 2); returns float64 (..., 2)."""
    p = np.asarray(points, dtype=np.float64)
    M = np.asarray(M, dtype=np.float64)
    return p @ M[:, :2].T + M[:, 2]


def warp(
    image: np.ndarray,
    M: np.ndarray,
    output_size: tuple[int, int],
    border: int = cv2.BORDER_CONSTANT,
    border_value: float | tuple[float, ...] = 0,
    antialias: bool = False,
) -> np.ndarray:
    """Warp ``image`` (H, W[, C]) with the image -> output matrix ``M`` into ``output_size`` = (W, H),
    bilinear (``cv2.INTER_LINEAR``). Pixels from outside the image get ``border_value`` (black).

    antialias: when the warp shrinks the image by more than 4/3 (output pixels per image pixel < 0.75),
        first shrink the whole image with ``cv2.INTER_AREA`` to the target density so bilinear sampling
        does not alias; the geometry is unchanged (the matrix is corrected for the resize).
    """
    M = np.asarray(M, dtype=np.float64)
    if antialias:
        density = math.sqrt(abs(np.linalg.det(M[:, :2])))
        if density < 0.75:
            if image.shape[0] * image.shape[1] > ROI_MIN_PIXELS:
                image, M = _source_region(image, M, output_size, margin=math.ceil(2 / density) + 2)
            h0, w0 = image.shape[:2]
            nw, nh = max(1, round(w0 * density)), max(1, round(h0 * density))
            small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
            fx, fy = nw / w0, nh / h0
            # cv2.resize with pixel centres: x_small = fx * (x + 0.5) - 0.5.
            to_small = np.array([[fx, 0.0, 0.5 * fx - 0.5], [0.0, fy, 0.5 * fy - 0.5]])
            M = compose_affine(M, invert_affine(to_small))
            image = small
    W, H = output_size
    return cv2.warpAffine(
        image, M, (int(W), int(H)), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=border_value
    )


#: images of more pixels are cut to the region a warp reads before its antialiasing shrink: shrinking a whole
#: 48-MP photo takes ~0.3 s, once per person crop. Smaller images are shrunk whole as before (the cut moves the
#: area-averaging grid, so results would change by interpolation noise).
ROI_MIN_PIXELS = 4_000_000


def _source_region(image: np.ndarray, M: np.ndarray, output_size: tuple[int, int],
                   margin: int) -> tuple[np.ndarray, np.ndarray]:
    """(the part of ``image`` the warp ``M`` into ``output_size`` reads, plus ``margin`` pixels, as a view;
    the matrix from that part's pixels); ``image`` and ``M`` unchanged when that part is empty."""
    W, H = output_size
    corners = np.array([[-0.5, -0.5], [W - 0.5, -0.5], [-0.5, H - 0.5], [W - 0.5, H - 0.5]])
    source = apply_affine(corners, invert_affine(M))
    x0, y0 = np.maximum(np.floor(source.min(axis=0)).astype(int) - margin, 0)
    x1 = min(image.shape[1], int(np.ceil(source[:, 0].max())) + margin)
    y1 = min(image.shape[0], int(np.ceil(source[:, 1].max())) + margin)
    if x1 <= x0 or y1 <= y0:
        return image, M
    return image[y0:y1, x0:x1], compose_affine(M, np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]]))


def transform_keypoints(
    keypoints: np.ndarray,
    M: np.ndarray,
    flip_index: np.ndarray | None = None,
    output_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Move (K, 3) (x, y, v) keypoints through the image -> output matrix ``M``.

    flip_index: pass ``skeleton.flip_index`` when ``M`` mirrors (``affine_matrix(..., flip=True)``): row
        i of the result is then the transformed row ``flip_index[i]``, so ``left_*`` stays the person's
        left.
    output_size: (W, H); when given, keypoints that land outside the output ([-0.5, W - 0.5) x
        [-0.5, H - 0.5)) are marked not labelled (v = 0, x = y = 0) so they carry zero training weight.

    Rows with v = 0 on input stay (0, 0, 0). Returns float64 (K, 3); the third column is otherwise kept.
    """
    kps = np.asarray(keypoints, dtype=np.float64)
    out = kps.copy()
    out[:, :2] = apply_affine(kps[:, :2], M)
    if flip_index is not None:
        out = out[np.asarray(flip_index)]
    if output_size is not None:
        W, H = output_size
        x, y = out[:, 0], out[:, 1]
        outside = (x < -0.5) | (x >= W - 0.5) | (y < -0.5) | (y >= H - 0.5)
        out[outside, 2] = 0
    out[out[:, 2] <= 0] = 0.0
    return out


@dataclass
class AffineParams:
    """One crop: region ``center`` (2,) and ``size`` (2,) = (w, h) in image pixels, a rotation in degrees
    (counter-clockwise as displayed) and a horizontal flip."""

    center: np.ndarray
    size: np.ndarray
    rotation_deg: float = 0.0
    flip: bool = False

    def matrix(self, output_size: tuple[int, int]) -> np.ndarray:
        """(2, 3) image -> output matrix (see :func:`affine_matrix`)."""
        return affine_matrix(self.center, self.size, output_size, self.rotation_deg, self.flip)


def photometric_jitter(
    image: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.2,
    contrast: float = 0.2,
    saturation: float = 0.2,
) -> np.ndarray:
    """Random brightness, contrast and saturation change of a uint8 (H, W, 3) BGR image; returns uint8.

    Each factor is drawn uniformly from [1 - x, 1 + x] (x = 0 disables it): saturation blends every pixel
    with its grey value, contrast blends with the mean grey, brightness scales. All three are folded into
    one colour matrix, so the cost is one pass (tens of microseconds on a 128 x 128 crop).
    """
    if brightness <= 0 and contrast <= 0 and saturation <= 0:
        return image
    b = rng.uniform(1 - brightness, 1 + brightness) if brightness > 0 else 1.0
    c = rng.uniform(1 - contrast, 1 + contrast) if contrast > 0 else 1.0
    s = rng.uniform(1 - saturation, 1 + saturation) if saturation > 0 else 1.0
    # saturation: g + s (x - g); contrast: m + c (. - m); brightness: b * (.), with g the pixel's grey
    # and m the image's mean grey  =>  out = b c s x + b c (1 - s) g + b (1 - c) m: one 3x4 colour
    # matrix, applied (with uint8 saturation) by cv2.transform in a single pass.
    m = float(_GREY_BGR @ np.asarray(cv2.mean(image)[:3]))
    T = np.zeros((3, 4))
    T[:, :3] = b * c * s * np.eye(3) + b * c * (1 - s) * _GREY_BGR[None, :]
    T[:, 3] = b * (1 - c) * m
    return cv2.transform(image, T)


class TopDownAugment:
    """Random crop perturbation for top-down training (the usual SimpleBaseline/HRNet recipe).

    Given a person's base region (center, size), :meth:`sample` draws
    * a scale factor uniform in ``scale_range`` multiplying the region size (> 1 zooms out),
    * a rotation uniform in [-rotation_deg, rotation_deg] with probability ``rotation_prob``, else 0,
    * a horizontal flip with probability ``flip_prob``,
    * a shift of the centre uniform in [-translate_frac, translate_frac] x the base size, per axis.
    :meth:`photometric` applies :func:`photometric_jitter` with the stored strengths.
    :meth:`half_body` (with probability ``half_body_prob``, HRNet's "half body" augmentation): the base
    region becomes the upper body (head, arms, sometimes the hips) or the lower body (hips, legs) only,
    so the network learns people cut off by the crop -- truncated people are everywhere in users' photos.
    :meth:`border_cut` (with probability ``border_cut_prob``): the person cut by an image edge -- what lies
    beyond a straight cut through the body is gone (black, as outside an image at inference) and its
    joints unlabelled, and the region is the visible part's box, as COCO boxes a person leaving the frame.

    rng: a ``numpy.random.Generator`` or a seed. :class:`~posekit.data.dataset.PoseDataset` reseeds it
    in each DataLoader worker (from torch's per-worker seed) so workers do not repeat each other.
    """

    def __init__(
        self,
        output_size: tuple[int, int],
        scale_range: tuple[float, float] = (0.75, 1.25),
        rotation_deg: float = 30.0,
        rotation_prob: float = 0.6,
        flip_prob: float = 0.5,
        translate_frac: float = 0.1,
        brightness: float = 0.2,
        contrast: float = 0.2,
        saturation: float = 0.2,
        rng: np.random.Generator | int | None = None,
        half_body_prob: float = 0.0,
        border_cut_prob: float = 0.0,
    ) -> None:
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"scale_range must be 0 < lo <= hi, got {scale_range}")
        self.output_size = (int(output_size[0]), int(output_size[1]))
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.rotation_deg = float(rotation_deg)
        self.rotation_prob = float(rotation_prob)
        self.flip_prob = float(flip_prob)
        self.translate_frac = float(translate_frac)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.half_body_prob = float(half_body_prob)
        self.border_cut_prob = float(border_cut_prob)
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def max_extent(self) -> float:
        """How far (as a multiple of the base size, per axis, worst case for a square region) the sampled
        region can reach from the base centre, times 2: the ``cache_margin`` that loses no pixels."""
        t = math.radians(min(self.rotation_deg, 45.0)) if self.rotation_prob > 0 else 0.0
        return self.scale_range[1] * (math.cos(t) + math.sin(t)) + 2 * self.translate_frac

    def sample(self, center: np.ndarray, size: np.ndarray, rng: np.random.Generator | None = None) -> AffineParams:
        """Draw a perturbed :class:`AffineParams` around the base region (center (2,), size (2,)) from
        ``rng`` (default: the augmenter's own generator)."""
        rng = self.rng if rng is None else rng
        size = np.asarray(size, dtype=np.float64)
        scale = rng.uniform(*self.scale_range)
        rot = 0.0
        if self.rotation_deg > 0 and rng.random() < self.rotation_prob:
            rot = float(rng.uniform(-self.rotation_deg, self.rotation_deg))
        flip = bool(rng.random() < self.flip_prob)
        shift = rng.uniform(-self.translate_frac, self.translate_frac, size=2) * size
        return AffineParams(np.asarray(center, dtype=np.float64) + shift, size * scale, rot, flip)

    def half_body(self, keypoints: np.ndarray, joints: Sequence[str], padding: float,
                  rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """With probability ``half_body_prob``, a base region (center, size) around half the body: the
        labelled upper-body joints (head, neck, arms; the hips too half of the time) or the lower-body
        ones (hips, knees, ankles), their box grown by ``padding`` x 1.2 to the output aspect. None when
        not drawn or when the half has fewer than 3 labelled joints (in image pixels, (K, 3) input)."""
        rng = self.rng if rng is None else rng
        if self.half_body_prob <= 0 or rng.random() >= self.half_body_prob:
            return None
        upper = ("head_top", "head", "neck", "upper_neck", "nose", "left_shoulder", "right_shoulder",
                 "left_elbow", "right_elbow", "left_wrist", "right_wrist")
        hips = ("left_hip", "right_hip")
        lower = hips + ("left_knee", "right_knee", "left_ankle", "right_ankle")
        names = (upper + (hips if rng.random() < 0.5 else ())) if rng.random() < 0.6 else lower
        idx = [i for i, n in enumerate(joints) if n in names and keypoints[i, 2] > 0]
        if len(idx) < 3:
            return None
        xy = keypoints[idx, :2]
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        W, H = self.output_size
        return box_to_center_scale(np.array([lo[0], lo[1], *(hi - lo)]), W / H, padding * 1.2)

    def border_cut(self, keypoints: np.ndarray, padding: float, rng: np.random.Generator | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """With probability ``border_cut_prob``, an image edge through the person (``keypoints`` (K, 3) in
        image pixels): below a horizontal cut (70 % of draws: legs leaving the frame, the most common
        truncation) or beside a vertical one, at a uniform place between the labelled joints that keeps at
        least two of them. Returns (center, size) of the visible part's box -- the kept joints' extent,
        reaching the cut, grown by ``padding`` x 1.2 to the output aspect -- and the cut (3,) = (a, b, c):
        image points with a x + b y > c are gone. None when not drawn or under 4 labelled joints."""
        rng = self.rng if rng is None else rng
        if self.border_cut_prob <= 0 or rng.random() >= self.border_cut_prob:
            return None
        xy = keypoints[keypoints[:, 2] > 0, :2]
        if len(xy) < 4:
            return None
        r = rng.random()
        axis, sign = (1, 1.0) if r < 0.7 else (0, 1.0) if r < 0.85 else (0, -1.0)
        along = np.sort(sign * xy[:, axis])
        c = rng.uniform(along[1], along[-1])  # the second-lowest joint stays, with the lowest
        kept = xy[sign * xy[:, axis] <= c]
        lo, hi = kept.min(axis=0), kept.max(axis=0)
        if sign > 0:
            hi[axis] = c  # the visible body reaches the edge
        else:
            lo[axis] = -c
        normal = np.zeros(2)
        normal[axis] = sign
        W, H = self.output_size
        center, size = box_to_center_scale(np.array([lo[0], lo[1], *(hi - lo)]), W / H, padding * 1.2)
        return center, size, np.array([normal[0], normal[1], c])

    def photometric(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return photometric_jitter(image, self.rng if rng is None else rng, self.brightness, self.contrast,
                                  self.saturation)

    def __call__(
        self,
        image: np.ndarray,
        keypoints: np.ndarray,
        center: np.ndarray,
        size: np.ndarray,
        flip_index: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Augment one person from a full image: returns (crop uint8 (H, W, 3), keypoints (K, 3) in output
        pixels with v = 0 outside the crop, image -> output matrix (2, 3))."""
        p = self.sample(center, size)
        M = p.matrix(self.output_size)
        crop = self.photometric(warp(image, M, self.output_size, antialias=True))
        kps = transform_keypoints(keypoints, M, flip_index if p.flip else None, self.output_size)
        return crop, kps, M
