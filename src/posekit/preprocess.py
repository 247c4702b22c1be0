"""What a network sees: images normalised, letterboxed into a network input and mapped back -- the same
functions in training (:mod:`posekit.data`) and at inference (:mod:`posekit.predict`).

Coordinates are pixel centres (x right, y down); a (2, 3) matrix maps image pixels to input pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from posekit.data.transforms import warp

#: ImageNet statistics, RGB order, for images scaled to [0, 1]. Models see (x / 255 - mean) / std.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (x / 255 - mean) / std folded into one multiply-add, x * _SCALE_RGB - _SHIFT_RGB, shaped (3, 1, 1).
_SCALE_RGB = (1.0 / (255.0 * np.array(IMAGENET_STD))).astype(np.float32)[:, None, None]
_SHIFT_RGB = (np.array(IMAGENET_MEAN) / np.array(IMAGENET_STD)).astype(np.float32)[:, None, None]

#: border fill of letterboxed inputs: the ImageNet mean in BGR (normalises to 0)
PAD_BGR = (103.53, 116.28, 123.675)


def normalize_image(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) BGR image -> float32 tensor (3, H, W), RGB, normalised with ImageNet mean/std
    (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`, for values scaled to [0, 1]). Use the same function at
    inference."""
    # planar RGB first (uint8 copies are cheap), then one float pass: ~5x faster than the other order
    x = np.ascontiguousarray(image.transpose(2, 0, 1)[::-1]).astype(np.float32)
    x *= _SCALE_RGB
    x -= _SHIFT_RGB
    return torch.from_numpy(x)


def normalize_images(images: np.ndarray) -> np.ndarray:
    """:func:`normalize_image` over a batch in one pass: uint8 (N, H, W, 3) BGR -> float32 (N, 3, H, W) RGB, the
    same numbers (the same operations in the same order)."""
    x = np.ascontiguousarray(images.transpose(0, 3, 1, 2)[:, ::-1]).astype(np.float32)
    x *= _SCALE_RGB
    x -= _SHIFT_RGB
    return x


def denormalize_image(tensor: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`normalize_image`: (3, H, W) tensor -> uint8 (H, W, 3) BGR (for drawing)."""
    x = (tensor.detach().cpu().numpy().astype(np.float32) + _SHIFT_RGB) / _SCALE_RGB
    return np.ascontiguousarray(np.clip(np.rint(x), 0, 255).astype(np.uint8)[::-1].transpose(1, 2, 0))


def letterbox_matrix(image_size: Sequence[int], input_size: Sequence[int], scale: float = 1.0,
                     shift: Sequence[float] = (0.0, 0.0), flip: bool = False) -> np.ndarray:
    """(2, 3) image -> input matrix: the image (w0, h0) scaled to fit the input (W, H) times ``scale``,
    centred, moved by ``shift`` input pixels, optionally mirrored; pixel centres map to pixel centres."""
    w0, h0 = image_size
    W, H = input_size
    s = min(W / w0, H / h0) * scale
    tx = (W - w0 * s) / 2 + shift[0]
    ty = (H - h0 * s) / 2 + shift[1]
    # the image's outer edges (-0.5, w0 - 0.5) land on (tx - 0.5, tx + w0 s - 0.5)
    M = np.array([[s, 0.0, tx + 0.5 * s - 0.5], [0.0, s, ty + 0.5 * s - 0.5]])
    if flip:
        M = np.array([[-1.0, 0.0, W - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([M, [0.0, 0.0, 1.0]])
    return M


def letterbox(image: np.ndarray, M: np.ndarray, input_size: Sequence[int], antialias: bool = False) -> np.ndarray:
    """A whole-image network input: ``image`` warped by the (letterbox or crop) matrix ``M`` into (W, H),
    bilinear, the border filled with :data:`PAD_BGR`. ``antialias``: shrink with area averaging first where
    the warp shrinks a lot (:func:`~posekit.data.transforms.warp`): the bottom-up network's inputs (a 1280 px
    photo becomes 256 px: plain bilinear sampling would alias); the detector's are plain bilinear, as it
    was trained."""
    return warp(image, M, tuple(int(v) for v in input_size), border_value=PAD_BGR, antialias=antialias)


def network_input(image: np.ndarray, M: np.ndarray, input_size: Sequence[int]) -> np.ndarray:
    """A bottom-up network's input: :func:`letterbox` with antialiasing."""
    return letterbox(image, M, input_size, antialias=True)


def boxes_to_image(boxes: np.ndarray, M: np.ndarray) -> np.ndarray:
    """(N, 4) boxes in input pixels -> image pixels, inverting the (unmirrored) letterbox matrix ``M``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s, tx, ty = M[0, 0], M[0, 2], M[1, 2]
    return np.stack([(boxes[:, 0] - tx) / s, (boxes[:, 1] - ty) / s, boxes[:, 2] / s, boxes[:, 3] / s], axis=1)


def input_size_for(image_shape: tuple[int, ...], longer_side: int) -> tuple[int, int]:
    """(W, H) of a letterboxed network input: the image's aspect, longer side ``longer_side``, both
    rounded up to multiples of 32 (the detector's deepest stride)."""
    h, w = image_shape[:2]
    s = longer_side / max(h, w)
    return (max(32, int(np.ceil(w * s / 32)) * 32), max(32, int(np.ceil(h * s / 32)) * 32))
