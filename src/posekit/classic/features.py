"""Dense HOG features for the classic part and poselet detectors (scikit-image's ``hog``).

The image is read at a *canonical scale* (the person's keypoint box about ``CANONICAL`` px on its longer
side; see :mod:`posekit.classic.pictorial` for how test images are scaled), converted to grey, and
described by HOG with 4 x 4 px cells, 2 x 2-cell blocks (L2-Hys) and 9 unsigned orientations, one
36-dim block per cell position: a grid (by, bx, 36) with a stride of one cell. Block (i, j) covers
pixels [4i, 4i + 8) x [4j, 4j + 8), so its centre is pixel 4i + 3.5 (pixel centres at integers).

A detector is a linear filter over a (2r + 1) x (2r + 1) window of blocks centred on a grid cell;
:func:`windows` lays every window out as one row of a matrix so that all filters of all parts score a
whole image in one matrix product (and training reads exactly the same vectors).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

CELL = 4
CANONICAL = 100.0  # px: the person's keypoint-box longer side at the canonical scale


def hog_grid(image: np.ndarray, cell: int = CELL) -> np.ndarray:
    """(by, bx, 36) float32 HOG blocks of a BGR uint8 or grey image (by = H // cell - 1)."""
    try:
        from skimage.feature import hog
    except ImportError:
        raise ImportError("posekit.classic needs scikit-image for its HOG features: "
                          "pip install 'posekit[classic]'") from None

    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = grey.shape
    if h < 2 * cell or w < 2 * cell:
        raise ValueError(f"image {w}x{h} is smaller than one HOG block")
    blocks = hog(grey, orientations=9, pixels_per_cell=(cell, cell), cells_per_block=(2, 2),
                 block_norm="L2-Hys", feature_vector=False)
    by, bx = blocks.shape[:2]
    return blocks.reshape(by, bx, -1).astype(np.float32)


def block_to_pixel(ij: np.ndarray, cell: int = CELL) -> np.ndarray:
    """Grid coordinates -> pixel coordinates (either order of axes, elementwise)."""
    return cell * np.asarray(ij, dtype=np.float64) + (cell - 0.5)


def pixel_to_block(xy: np.ndarray, cell: int = CELL) -> np.ndarray:
    """Pixel coordinates -> (real) grid coordinates, the inverse of :func:`block_to_pixel`."""
    return (np.asarray(xy, dtype=np.float64) - (cell - 0.5)) / cell


def windows(grid: np.ndarray, radius: int) -> np.ndarray:
    """(by * bx, (2r + 1)^2 * 36) float32: the window of blocks centred on every grid cell (row-major),
    zero outside the grid (a detector at the border sees "no gradient" there)."""
    by, bx, c = grid.shape
    padded = np.pad(grid, ((radius, radius), (radius, radius), (0, 0)))
    win = sliding_window_view(padded, (2 * radius + 1, 2 * radius + 1), axis=(0, 1))  # (by, bx, c, k, k)
    return np.ascontiguousarray(win.transpose(0, 1, 3, 4, 2)).reshape(by * bx, -1)


def window_at(grid: np.ndarray, iy: int, ix: int, radius: int) -> np.ndarray:
    """The window row of :func:`windows` for grid cell (iy, ix), without building them all."""
    by, bx, c = grid.shape
    out = np.zeros((2 * radius + 1, 2 * radius + 1, c), dtype=np.float32)
    y0, x0 = iy - radius, ix - radius
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(by, iy + radius + 1), min(bx, ix + radius + 1)
    if ye > ys and xe > xs:
        out[ys - y0: ye - y0, xs - x0: xe - x0] = grid[ys:ye, xs:xe]
    return out.reshape(-1)


def rescale(image: np.ndarray, factor: float) -> np.ndarray:
    """The image resized by ``factor`` (area interpolation when shrinking), at least 16 px a side."""
    h, w = image.shape[:2]
    size = (max(16, int(round(w * factor))), max(16, int(round(h * factor))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
