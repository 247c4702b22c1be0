"""Pictures: skeletons drawn on images, PCK curves, learning curves.

Colours (BGR) follow the person's own side, as the skeletons name it: left joints and limbs
:data:`LEFT_COLOR` (blue), right :data:`RIGHT_COLOR` (red), the rest :data:`CENTER_COLOR` (green).
A limb takes a side's colour when one end is on that side and neither is on the other (so LSP's
right_shoulder - neck stick is right; hip - hip is centre).

Plots use Matplotlib's object API with the Agg canvas, so they work headless and never touch pyplot's
global state or backend.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from posekit.skeletons import Skeleton
from posekit.types import Person, Prediction, Sample

__all__ = [
    "CENTER_COLOR",
    "LEFT_COLOR",
    "RIGHT_COLOR",
    "draw_pose",
    "draw_predictions",
    "id_color",
    "plot_learning_curve",
    "plot_pck_curves",
    "read_records",
    "save_image",
]

LEFT_COLOR = (255, 128, 0)  # BGR: blue
RIGHT_COLOR = (0, 0, 255)  # BGR: red
CENTER_COLOR = (0, 200, 0)  # BGR: green


def _joint_color(skeleton: Skeleton, i: int) -> tuple[int, int, int]:
    if skeleton.is_left(i):
        return LEFT_COLOR
    if skeleton.is_right(i):
        return RIGHT_COLOR
    return CENTER_COLOR


def _limb_color(skeleton: Skeleton, a: int, b: int) -> tuple[int, int, int]:
    left = skeleton.is_left(a) or skeleton.is_left(b)
    right = skeleton.is_right(a) or skeleton.is_right(b)
    if left and not right:
        return LEFT_COLOR
    if right and not left:
        return RIGHT_COLOR
    return CENTER_COLOR


def _line_width(image: np.ndarray) -> int:
    return max(1, round(max(image.shape[:2]) / 200))


def draw_pose(
    image: np.ndarray,
    keypoints: np.ndarray,
    skeleton: Skeleton,
    threshold: float = 0.0,
    thickness: int | None = None,
    show_names: bool = False,
    legend: bool = False,
) -> np.ndarray:
    """Draw one person's skeleton on a copy of a uint8 BGR image (H, W, 3) (grey images are converted).

    keypoints: (K, 3) in image pixels; the third column is the visibility v (ground truth) or a score
        (predictions). Joints with third column > ``threshold`` are drawn (default: v > 0, i.e. labelled),
        limbs when both ends are.
    thickness: limb width in pixels; default scales with the image (1 px per 200 px of the longer side).
    show_names: write each joint's name beside it. legend: an "L" / "R" key in the top-left corner.
    Returns the new image; the input is not modified.
    """
    if image.ndim == 2:
        out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    else:
        out = np.ascontiguousarray(image).copy()
    if out.dtype != np.uint8:
        raise TypeError(f"draw_pose expects a uint8 image, got {out.dtype}")
    kps = np.asarray(keypoints, dtype=np.float64)
    if kps.shape != (skeleton.num_joints, 3):
        raise ValueError(f"keypoints shape {kps.shape} does not match skeleton {skeleton.name} "
                         f"({skeleton.num_joints} joints)")
    t = thickness if thickness is not None else _line_width(out)
    radius = max(2, round(1.5 * t) + 1)
    shift = 4  # sub-pixel drawing: coordinates in 1/16 pixel
    ok = np.isfinite(kps).all(axis=1) & (kps[:, 2] > threshold)

    def pt(i: int) -> tuple[int, int]:
        return int(round(kps[i, 0] * 16)), int(round(kps[i, 1] * 16))

    for a, b in skeleton.limbs:
        if ok[a] and ok[b]:
            cv2.line(out, pt(a), pt(b), _limb_color(skeleton, a, b), t, cv2.LINE_AA, shift)
    for i in np.flatnonzero(ok):
        cv2.circle(out, pt(i), radius * 16, _joint_color(skeleton, i), -1, cv2.LINE_AA, shift)
        cv2.circle(out, pt(i), radius * 16, (255, 255, 255), max(1, t // 2), cv2.LINE_AA, shift)
    scale = max(0.3, max(out.shape[:2]) / 1000)
    if show_names:
        for i in np.flatnonzero(ok):
            org = (int(kps[i, 0]) + radius + 1, int(kps[i, 1]) - radius)
            cv2.putText(out, skeleton.joints[i], org, cv2.FONT_HERSHEY_SIMPLEX, scale,
                        _joint_color(skeleton, i), 1, cv2.LINE_AA)
    if legend:
        y = int(24 * scale / 0.5)
        for k, (label, color) in enumerate((("L", LEFT_COLOR), ("R", RIGHT_COLOR))):
            cv2.putText(out, label, (4 + k * int(30 * scale / 0.5), y), cv2.FONT_HERSHEY_SIMPLEX, 2 * scale,
                        color, max(1, t), cv2.LINE_AA)
    return out


def id_color(track_id: int) -> tuple[int, int, int]:
    """A stable, bright BGR colour for a track id: hues spaced by the golden angle, so ids close in number get
    far-apart colours."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 180)  # OpenCV's hue runs 0..179
    bgr = cv2.cvtColor(np.uint8([[[hue, 220, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def _draw_id(out: np.ndarray, p: Prediction, t: int) -> None:
    """The label "id N" on a filled tag in the id's colour, just above the top of the person's box (inside the
    image), drawn in place."""
    color = id_color(p.track_id)
    scale = max(0.4, max(out.shape[:2]) / 1200)
    text = f"id {p.track_id}"
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, max(1, t // 2))
    x, y = (float(v) for v in p.box[:2])
    x0 = int(np.clip(round(x), 0, max(0, out.shape[1] - tw - 4)))
    y0 = int(np.clip(round(y) - th - base - 4, 0, max(0, out.shape[0] - th - base - 4)))
    cv2.rectangle(out, (x0, y0), (x0 + tw + 4, y0 + th + base + 4), color, -1)
    dark = sum(color) > 380  # black text on light tags, white on dark
    cv2.putText(out, text, (x0 + 2, y0 + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (0, 0, 0) if dark else (255, 255, 255), max(1, t // 2), cv2.LINE_AA)


def draw_predictions(
    image: np.ndarray,
    people: Sequence[Person | Prediction],
    skeleton: Skeleton | None = None,
    threshold: float = 0.0,
    draw_boxes: bool = True,
) -> np.ndarray:
    """Draw several people (ground-truth :class:`Person` or :class:`Prediction`) on a copy of ``image``.

    skeleton: needed for :class:`Person` (which does not carry one); a Prediction's own skeleton wins.
    draw_boxes: also draw each box (x, y, w, h) in white, with the score for predictions. A tracked prediction
        (``track_id`` set) gets its box in its id's colour (:func:`id_color`) and an "id N" tag above it.
    """
    out = image.copy() if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    t = _line_width(out)
    for p in people:
        sk = p.skeleton if isinstance(p, Prediction) else skeleton
        if sk is None:
            raise ValueError("draw_predictions needs a skeleton to draw a Person")
        tracked = isinstance(p, Prediction) and p.track_id is not None
        if draw_boxes and p.box is not None and np.asarray(p.box).size == 4:
            x, y, w, h = (float(v) for v in p.box)
            if w > 0 and h > 0:
                color = id_color(p.track_id) if tracked else (255, 255, 255)
                cv2.rectangle(out, (round(x), round(y)), (round(x + w), round(y + h)), color, t)
                if isinstance(p, Prediction) and not tracked:
                    cv2.putText(out, f"{p.score:.2f}", (round(x), max(10, round(y) - 3)),
                                cv2.FONT_HERSHEY_SIMPLEX, max(0.3, max(out.shape[:2]) / 1000),
                                (255, 255, 255), 1, cv2.LINE_AA)
        out = draw_pose(out, p.keypoints, sk, threshold=threshold, thickness=t)
        if tracked and p.box is not None and np.asarray(p.box).size == 4:
            _draw_id(out, p, t)
    return out


def draw_sample(image: np.ndarray, sample: Sample, min_side: float = 480.0) -> np.ndarray:
    """A labelled sample's people drawn with a legend on its ``image``, enlarged (bicubic) so that its
    longer side is at least ``min_side`` pixels: LSP images are ~150 px, too small to read a drawing on."""
    zoom = max(1.0, min_side / max(image.shape[:2]))
    if zoom > 1:
        image = cv2.resize(image, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    for person in sample.people:
        keypoints = person.keypoints.copy()
        keypoints[:, :2] = (keypoints[:, :2] + 0.5) * zoom - 0.5  # pixel centres scale about -0.5
        image = draw_pose(image, keypoints, sample.skeleton, legend=True)
    return image


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a BGR image (format from the extension; parent folders created). Raises OSError naming
    the file when OpenCV cannot write it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok = cv2.imwrite(str(p), image)
    except cv2.error as e:
        raise OSError(f"could not write image {p}: {e}") from None
    if not ok:
        raise OSError(f"could not write image {p} (unsupported extension or unwritable folder)")
    return p


def new_figure(figsize: tuple[float, float] = (6.0, 4.5)):
    """A matplotlib Figure on the Agg canvas, outside pyplot's global state (safe in threads and loops)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | os.PathLike, dpi: int | None = None) -> Path:
    """Lay out ``fig`` tightly and write it to ``path`` (parent folders created); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(p, dpi=dpi)
    return p


def plot_pck_curves(
    thresholds: Sequence[float] | np.ndarray,
    curves: Mapping[str, Sequence[float] | np.ndarray],
    path: str | os.PathLike,
    title: str = "PCK",
    xlabel: str = "normalised distance threshold",
    ylabel: str = "PCK (%)",
) -> Path:
    """PCK (or PCKh / PDJ) vs threshold, one line per ``{label: values}``; values as fractions in [0, 1]
    are shown as percentages. Writes a PNG (or any Matplotlib format by extension) and returns its path.
    """
    th = np.asarray(thresholds, dtype=np.float64)
    fig = new_figure()
    ax = fig.add_subplot(1, 1, 1)
    for label, values in curves.items():
        v = np.asarray(values, dtype=np.float64)
        if v.shape != th.shape:
            raise ValueError(f"curve {label!r} has {v.shape} values for {th.shape} thresholds")
        if np.nanmax(v, initial=0.0) <= 1.0:
            v = v * 100
        ax.plot(th, v, label=label, linewidth=1.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_xlim(float(th.min()), float(th.max()))
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(loc="lower right")
    return save_figure(fig, path)


def read_records(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines log (one JSON object per line; blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_learning_curve(
    records: Sequence[Mapping] | str | os.PathLike,
    path: str | os.PathLike,
    loss_key: str = "loss",
    metric_key: str = "val_pck",
    title: str = "learning curve",
) -> Path:
    """Training loss (left axis, log scale when positive) and a validation metric (right axis) vs step.

    records: dicts with ``step``, ``loss_key`` and optionally ``metric_key`` (records without a key are
        skipped for that line), or the path of a JSON-lines file of them.
    """
    if isinstance(records, (str, os.PathLike)):
        records = read_records(records)
    loss = [(r["step"], r[loss_key]) for r in records if "step" in r and r.get(loss_key) is not None]
    metric = [(r["step"], r[metric_key]) for r in records if "step" in r and r.get(metric_key) is not None]
    if not loss and not metric:
        raise ValueError(f"no records with 'step' and {loss_key!r} or {metric_key!r}")
    fig = new_figure((7.0, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlabel("step")
    ax.set_title(title)
    handles = []
    if loss:
        s, v = np.array(loss, dtype=np.float64).T
        handles += ax.plot(s, v, color="tab:blue", linewidth=1.2, label=loss_key)
        ax.set_ylabel(loss_key, color="tab:blue")
        if (v > 0).all():
            ax.set_yscale("log")
    if metric:
        ax2 = ax.twinx() if loss else ax
        s, v = np.array(metric, dtype=np.float64).T
        handles += ax2.plot(s, v, color="tab:red", marker="o", markersize=3, linewidth=1.5, label=metric_key)
        ax2.set_ylabel(metric_key, color="tab:red")
    ax.grid(True, alpha=0.3)
    ax.legend(handles=handles, loc="center right")
    return save_figure(fig, path)
