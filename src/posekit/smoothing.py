"""Keypoints smoothed over time: the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012), one per tracked person.

The One-Euro filter is a low-pass filter whose cut-off frequency rises with the signal's speed: a still joint
is smoothed hard (jitter removed), a moving one lightly (little lag). For each joint, with ``dt`` the time since
its previous update in seconds:

    speed  = low-pass(|x - x_prev| / dt, cut-off d_cutoff)          (the joint's 2D speed)
    cutoff = min_cutoff + beta * speed / scale
    x      = low-pass(x, cut-off cutoff),  alpha(f) = 1 / (1 + 1 / (2 pi f dt))

Two choices beyond the paper:

* **scale**: the speed is divided by the person's size (box height in pixels), so ``beta`` means the same for a
  person 80 px tall and one 800 px tall (speed in person-heights per second);
* **low-confidence joints** (score < ``min_score``) do not update the filter: a joint the network is unsure of is
  often far off, and one such frame would drag a smoothed joint off for several frames. Such a joint's filtered
  position is carried along with the person (shifted by the box's motion) and returned; its score stays the raw
  one, so a drawing still hides it. When it is confident again, the filter continues with ``dt`` the time since
  its last confident frame (a long gap means a light smoothing, not a slow catch-up).

Coordinates are image pixels (x right, y down); time is in seconds (a video's frame index / fps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_SMOOTHING", "OneEuroFilter", "OneEuroSettings"]


@dataclass(frozen=True)
class OneEuroSettings:
    """The filter's parameters. min_cutoff: Hz, the cut-off of a still joint (lower = smoother, more lag);
    beta: how fast the cut-off rises with speed (in person-heights per second); d_cutoff: Hz, the cut-off of the
    speed estimate; min_score: joints scoring below this do not update the filter.
    The defaults were chosen on composed videos of LSP *training* people (benchmarks/tracking.md)."""

    min_cutoff: float = 0.3
    beta: float = 1.5
    d_cutoff: float = 1.0
    min_score: float = 0.3


#: the settings a tracker smooths with unless told otherwise
DEFAULT_SMOOTHING = OneEuroSettings()


def _alpha(cutoff: np.ndarray | float, dt: np.ndarray) -> np.ndarray:
    """Smoothing factor of an exponential low-pass filter with cut-off ``cutoff`` Hz over ``dt`` seconds."""
    return 1.0 / (1.0 + 1.0 / (2 * math.pi * np.asarray(cutoff) * dt))


class OneEuroFilter:
    """One person's K joints, filtered on (x, y) (see the module docstring).

    __call__(keypoints (K, 3) x, y, score in image pixels, t seconds, scale px, shift (2,) px) -> (K, 3):
    the filtered x, y with the raw scores.
    """

    def __init__(self, settings: OneEuroSettings = DEFAULT_SMOOTHING) -> None:
        self.settings = settings
        self.x: np.ndarray | None = None  # (K, 2) filtered positions
        self.speed: np.ndarray | None = None  # (K,) filtered speed, px/s
        self.t: np.ndarray | None = None  # (K,) time of each joint's last update (nan = never)

    def __call__(self, keypoints: np.ndarray, t: float, scale: float = 1.0,
                 shift: np.ndarray | None = None) -> np.ndarray:
        """Filter one frame. scale: the person's size in px (box height); shift: the person's motion since the
        previous call in px (moves the joints that are not updated)."""
        kp = np.asarray(keypoints, dtype=np.float64)
        xy, conf = kp[:, :2], kp[:, 2] >= self.settings.min_score
        if self.x is None:
            self.x, self.speed = xy.copy(), np.zeros(len(kp))
            self.t = np.where(conf, t, np.nan)
            return kp.copy()
        never = np.isnan(self.t)
        if shift is not None:  # joints held from earlier frames move with the person
            held = ~conf & ~never
            self.x[held] += np.asarray(shift, dtype=np.float64)
        self.x[never] = xy[never]  # never confident yet: follow the raw value
        fresh = conf & never
        self.t[fresh] = t
        update = conf & ~never & (t > np.nan_to_num(self.t, nan=t))
        if update.any():
            self._update(xy, t, max(float(scale), 1.0), update)
        out = kp.copy()
        out[:, :2] = self.x
        return out

    def _update(self, xy: np.ndarray, t: float, scale: float, update: np.ndarray) -> None:
        s = self.settings
        dt = t - self.t[update]
        moved = np.linalg.norm(xy[update] - self.x[update], axis=1) / dt
        a_d = _alpha(s.d_cutoff, dt)
        self.speed[update] = a_d * moved + (1 - a_d) * self.speed[update]
        a = _alpha(s.min_cutoff + s.beta * self.speed[update] / scale, dt)[:, None]
        self.x[update] = a * xy[update] + (1 - a) * self.x[update]
        self.t[update] = t
