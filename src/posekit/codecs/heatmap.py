"""Gaussian heatmap codec (Tompson 2014, Newell 2016, Xiao 2018, Sun 2019) with sub-pixel decoding.

``encode``: one unnormalised Gaussian per joint, peak 1 at the joint's *sub-pixel* location on the
heatmap grid (not rounded to a cell), standard deviation ``sigma`` in heatmap cells.

``decode``: argmax per map, then one of three refinements:

* ``"none"``: the centre of the arg-max cell (error up to half a cell per axis);
* ``"quarter"``: a quarter cell towards the higher of the two neighbours along each axis (Newell 2016,
  Xiao 2018); skipped on the grid's outer cells, where one neighbour is missing;
* ``"dark"``: DARK (Zhang et al. 2020, "Distribution-Aware Coordinate Representation"): modulate the map
  (Gaussian blur with the training ``sigma``, then log), then one Newton step
  ``-H^-1 g`` from the arg-max with the gradient and Hessian by central differences, clipped to one
  cell. The log of a Gaussian is a quadratic, so the step is exact for a clean Gaussian. Unlike the
  reference implementations this one stays exact at the grid's border: the map is extended beyond the
  grid by continuing each border row/column as a Gaussian of the training width (a log-quadratic of
  known curvature ``-1 / sigma^2``, its slope taken from the two outermost cells and its vertex kept within
  half a cell of the grid), so neither the blur nor the differences see an artificial edge. Only the
  (2 * ceil(3 sigma) + 3)^2 window around each maximum is modulated, which keeps decoding vectorised.

The helpers :func:`gaussian_heatmaps`, :func:`argmax_2d`, :func:`quarter_refine` and :func:`dark_refine`
work on heatmap-cell coordinates and are shared with the bottom-up codec (:mod:`posekit.codecs.paf`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posekit.codecs import as_numpy, heatmap_to_input, input_to_heatmap, joint_weights, strides
from posekit.codecs.offsets import OffsetCodec

REFINE_MODES = ("none", "quarter", "dark", "offsets")
_LOG_EPS = 1e-10  # floor before the log: a map value of 0 (or below) reads as log(1e-10)


def gaussian_heatmaps(centres: np.ndarray, heatmap_size: Sequence[int], sigma: float) -> np.ndarray:
    """(P, h, w) float32 unnormalised Gaussians, peak 1 at each of the (P, 2) sub-pixel ``centres``
    given in heatmap-cell coordinates; ``sigma`` in cells."""
    w, h = heatmap_size
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    gx = np.exp(-((np.arange(w)[None, :] - centres[:, 0:1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((np.arange(h)[None, :] - centres[:, 1:2]) ** 2) / (2 * sigma**2))
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def argmax_2d(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arg-max of each of (M, h, w) maps: ((M, 2) int64 cell (x, y), (M,) max value)."""
    m, h, w = heatmaps.shape
    flat = heatmaps.reshape(m, h * w)
    idx = flat.argmax(axis=1)
    return np.stack([idx % w, idx // w], axis=1), flat[np.arange(m), idx]


def quarter_refine(heatmaps: np.ndarray, xy: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """Quarter-offset refinement. heatmaps (M, h, w); xy (P, 2) int cell (x, y) of maxima; index (P,)
    map of each maximum (default ``arange(M)``). Returns (P, 2) float64 heatmap-cell coordinates."""
    m, h, w = heatmaps.shape
    index = np.arange(m) if index is None else np.asarray(index)
    x, y = xy[:, 0], xy[:, 1]
    out = xy.astype(np.float64)
    ix = (x > 0) & (x < w - 1)
    iy = (y > 0) & (y < h - 1)
    xr, xl = np.clip(x + 1, 0, w - 1), np.clip(x - 1, 0, w - 1)
    yd, yu = np.clip(y + 1, 0, h - 1), np.clip(y - 1, 0, h - 1)
    out[:, 0] += np.where(ix, 0.25 * np.sign(heatmaps[index, y, xr] - heatmaps[index, y, xl]), 0.0)
    out[:, 1] += np.where(iy, 0.25 * np.sign(heatmaps[index, yd, x] - heatmaps[index, yu, x]), 0.0)
    return out


def _extend(l0: np.ndarray, l1: np.ndarray, dist: np.ndarray, sigma: float) -> np.ndarray:
    """Log-value ``dist`` cells beyond a border cell of log-value l0 (inner neighbour l1): the parabola
    of curvature -1/sigma^2 through both, its vertex kept at most half a cell outside the grid."""
    c = 0.5 / sigma**2
    slope = np.minimum(l0 - l1 - c, 0.5 / sigma**2)  # outward slope at the border cell
    return np.where(dist > 0, l0 + slope * dist - c * dist * dist, l0)


def _extend_axis(logs: np.ndarray, pos: np.ndarray, size: int, axis: int, sigma: float) -> np.ndarray:
    """Gaussian extension of windows along one axis. logs (P, n, n): log-values gathered at clipped
    indices, so an off-grid entry holds its border cell's value; pos (P, n): grid index of each window
    row (axis 1) or column (axis 2), possibly off the grid. The inner neighbour (index 1 or size - 2)
    always lies in the window, which spans at least 3 cells around an on-grid maximum."""
    start = pos[:, :1]
    inner = np.where(pos < 0, 1, np.where(pos >= size, size - 2, pos)) - start  # window index of neighbour
    dist = np.where(pos < 0, -pos, np.where(pos >= size, pos - size + 1, 0)).astype(np.float64)
    if axis == 1:
        return _extend(logs, np.take_along_axis(logs, inner[:, :, None], axis=1), dist[:, :, None], sigma)
    return _extend(logs, np.take_along_axis(logs, inner[:, None, :], axis=2), dist[:, None, :], sigma)


def _windows(
    heatmaps: np.ndarray, m: np.ndarray, rows: np.ndarray, cols: np.ndarray, sigma: float
) -> np.ndarray:
    """(P, n, n) float64 windows of maps ``m`` (P,) over grid rows (P, n) x columns (P, n), which may
    run off the grid: there the map is continued as a Gaussian of width sigma (first along x, then
    along y). Negative map values are clamped to 0."""
    _, h, w = heatmaps.shape
    win = heatmaps[m[:, None, None], np.clip(rows, 0, h - 1)[:, :, None], np.clip(cols, 0, w - 1)[:, None, :]]
    win = np.maximum(win.astype(np.float64), 0.0)
    off = (rows[:, 0] < 0) | (rows[:, -1] >= h) | (cols[:, 0] < 0) | (cols[:, -1] >= w)
    if off.any():  # only windows that cross the border need the (log-domain) extension
        logs = np.log(np.maximum(win[off], _LOG_EPS))
        logs = _extend_axis(logs, cols[off], w, 2, sigma)
        logs = _extend_axis(logs, rows[off], h, 1, sigma)
        win[off] = np.exp(logs)
    return win


def dark_refine(
    heatmaps: np.ndarray, xy: np.ndarray, sigma: float, index: np.ndarray | None = None, chunk: int = 8192
) -> np.ndarray:
    """DARK refinement (see module docstring). heatmaps (M, h, w) with h, w >= 2; xy (P, 2) int cell
    (x, y) of maxima; index (P,) map of each maximum (default ``arange(M)``); sigma the training sigma
    in cells. Returns (P, 2) float64 heatmap-cell coordinates."""
    m_all, h, w = heatmaps.shape
    if h < 2 or w < 2:
        raise ValueError(f"DARK needs heatmaps of at least 2x2 cells, got {w}x{h}")
    index = np.arange(m_all) if index is None else np.asarray(index)
    xy = np.asarray(xy, dtype=np.int64)
    p = int(np.ceil(3 * sigma))  # blur kernel radius
    n = 2 * p + 3  # window: the 3x3 neighbourhood of the maximum plus the kernel radius around it
    k = np.arange(n) - (p + 1)
    d = np.arange(n)[None, :] - (np.arange(3)[:, None] + p)
    kernel = np.exp(-(d**2) / (2 * sigma**2)) * (np.abs(d) <= p)
    kernel /= kernel.sum(axis=1, keepdims=True)  # (3, n): blur weights for rows/columns -1, 0, +1
    out = xy.astype(np.float64)
    for s in range(0, len(xy), chunk):
        x, y, mi = xy[s : s + chunk, 0], xy[s : s + chunk, 1], index[s : s + chunk]
        win = _windows(heatmaps, mi, y[:, None] + k[None, :], x[:, None] + k[None, :], sigma)
        f = np.log(np.maximum(np.einsum("ai,mij,bj->mab", kernel, win, kernel, optimize=True), _LOG_EPS))
        dx = 0.5 * (f[:, 1, 2] - f[:, 1, 0])
        dy = 0.5 * (f[:, 2, 1] - f[:, 0, 1])
        dxx = f[:, 1, 2] - 2 * f[:, 1, 1] + f[:, 1, 0]
        dyy = f[:, 2, 1] - 2 * f[:, 1, 1] + f[:, 0, 1]
        dxy = 0.25 * (f[:, 2, 2] - f[:, 0, 2] - f[:, 2, 0] + f[:, 0, 0])
        det = dxx * dyy - dxy**2
        ok = (dxx < 0) & (det > 0)  # a true maximum of the modulated map; else leave the cell centre
        det = np.where(ok, det, 1.0)
        ox = np.where(ok, -(dyy * dx - dxy * dy) / det, 0.0)
        oy = np.where(ok, -(dxx * dy - dxy * dx) / det, 0.0)
        out[s : s + chunk, 0] += np.clip(ox, -1.0, 1.0)
        out[s : s + chunk, 1] += np.clip(oy, -1.0, 1.0)
    return out


class HeatmapCodec:
    """Keypoints <-> one Gaussian heatmap per joint.

    input_size: (W, H) of the network input, pixels. heatmap_size: (w, h) of the output maps.
    sigma: Gaussian standard deviation in heatmap cells (the same value drives DARK's blur).
    refine: ``"none"``, ``"quarter"`` or ``"dark"`` (see the module docstring), or ``"offsets"``: G-RMI's
        aggregation (:class:`~posekit.codecs.offsets.OffsetCodec`), each cell near the peak voting at
        its own position plus its predicted offset; needs ``offset_radius``.
    offset_radius: > 0 adds G-RMI offset-field targets (``offsets``, ``disk``: within this many input
        pixels of each joint) to ``encode``, for networks with an offset head (``decode`` then accepts
        ``offsets``). The votes come from the cells where the heatmap is at least the Gaussian's value at
        that radius, times the peak: the disk the offsets were trained on.

    Frames: see :mod:`posekit.codecs` (cell (i, j) is centred on input pixel
    ``((i + .5) s_x - .5, (j + .5) s_y - .5)``).
    """

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        sigma: float = 2.0,
        refine: str = "dark",
        offset_radius: float = 0.0,
    ) -> None:
        if refine not in REFINE_MODES:
            raise ValueError(f"refine must be one of {REFINE_MODES}, got {refine!r}")
        if refine == "offsets" and offset_radius <= 0:
            raise ValueError("refine 'offsets' needs offset_radius > 0 (a network with an offset head)")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        if min(heatmap_size) < 2 or min(input_size) < 1:
            raise ValueError(f"bad sizes: input {input_size}, heatmap {heatmap_size}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        self.refine = refine
        self.offset_radius = float(offset_radius)
        self.offsets = None
        if offset_radius > 0:
            self.offsets = OffsetCodec(self.input_size, self.heatmap_size, radius=offset_radius)

    def __repr__(self) -> str:
        return (f"HeatmapCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"sigma={self.sigma}, refine={self.refine!r}, offset_radius={self.offset_radius})")

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        """keypoints (K, 3) (x, y, v) in input pixels -> ``heatmaps`` (K, h, w) float32 (peak 1 at the
        sub-pixel joint location; all zeros for a joint of weight 0) and ``weights`` (K,) float32
        (1 = labelled and inside the input)."""
        keypoints = np.asarray(keypoints, dtype=np.float64)
        weights = joint_weights(keypoints, self.input_size)
        centres = input_to_heatmap(np.nan_to_num(keypoints[:, :2]), self.input_size, self.heatmap_size)
        heatmaps = gaussian_heatmaps(centres, self.heatmap_size, self.sigma)
        heatmaps *= weights[:, None, None]
        out = {"heatmaps": heatmaps, "weights": weights}
        if self.offsets is not None:
            extra = self.offsets.encode(keypoints)
            out.update(offsets=extra["offsets"], disk=extra["disk"])
        return out

    def decode(self, heatmaps: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
        """heatmaps (N, K, h, w) or (K, h, w) (numpy or torch) -> keypoints (N, K, 3) or (K, 3) float64:
        (x, y) in input pixels, score = the map's maximum value. ``offsets`` (N, K, 2, h, w): the offset
        head's output, used by ``refine="offsets"`` (ignored otherwise)."""
        if self.refine == "offsets":
            if offsets is None:
                raise ValueError("refine 'offsets' needs the network's offsets")
            hm = as_numpy(heatmaps).astype(np.float64)
            peak = hm.max(axis=(-2, -1), keepdims=True)
            floor = np.exp(-((self.offset_radius / strides(self.input_size, self.heatmap_size).max()) ** 2)
                           / (2 * self.sigma**2))
            votes = np.where(hm >= floor * peak, np.clip(hm, 0, None), 0.0)
            out = self.offsets.decode(votes, as_numpy(offsets))
            out[..., 2] = peak[..., 0, 0]
            return out
        hm = as_numpy(heatmaps)
        single = hm.ndim == 3
        if single:
            hm = hm[None]
        if hm.ndim != 4 or tuple(hm.shape[-2:]) != (self.heatmap_size[1], self.heatmap_size[0]):
            raise ValueError(f"expected (N, K, {self.heatmap_size[1]}, {self.heatmap_size[0]}) heatmaps, "
                             f"got {tuple(as_numpy(heatmaps).shape)}")
        n, k, h, w = hm.shape
        flat = hm.reshape(n * k, h, w)
        xy, score = argmax_2d(flat)
        if self.refine == "dark":
            cells = dark_refine(flat, xy, self.sigma)
        elif self.refine == "quarter":
            cells = quarter_refine(flat, xy)
        else:
            cells = xy.astype(np.float64)
        out = np.concatenate([heatmap_to_input(cells, self.input_size, self.heatmap_size),
                              score[:, None].astype(np.float64)], axis=1).reshape(n, k, 3)
        return out[0] if single else out
