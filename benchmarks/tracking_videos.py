"""Composed videos with known identities, for benchmarks/tracking.py: people cut from single-person photos (the
cut-out of posekit.data.compose / silhouette) walking across a background photo, crossing each other, some
standing still.

A video is a pure function of (people pool, backgrounds, seed). Each person keeps one pose and one size for the
whole clip and moves rigidly: walkers at a constant speed (4-9 px a frame at 25 frames/s, i.e. about half to one
body height a second) in opposite directions along nearby lanes, so they pass in front of and behind each other;
still people do not move at all. Every frame gets fresh Gaussian sensor noise (sigma 3 grey levels) and the clip
is written as MPEG-4, so a still person's pixels change from frame to frame as in a real camera's video, and
their keypoint jitter is measurable.

Labels per frame and person: keypoints (K, 3) in frame pixels (v = 1 where a person in front covers the joint,
0 outside the frame), the silhouette box, the share of the silhouette left visible, and whether the person is
still.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from posekit.data.compose import SceneComposer
from posekit.data.dataset import read_image
from posekit.data.silhouette import body_mask, extent_box
from posekit.data.transforms import apply_affine

FPS = 25.0


@dataclass
class Actor:
    """One person of a video: source image and keypoints, scale, mirror, first offset, velocity (px/frame)."""

    image: np.ndarray
    keypoints: np.ndarray
    mask: np.ndarray
    scale: float
    flip: bool
    offset: np.ndarray
    velocity: np.ndarray
    src_box: np.ndarray

    @property
    def still(self) -> bool:
        return not np.any(self.velocity)

    def matrix(self, frame: int) -> np.ndarray:
        """2 x 3 affine from the source image to the frame."""
        s, (tx, ty) = self.scale, self.offset + self.velocity * frame
        m = np.array([[s, 0, tx], [0, s, ty], [0, 0, 1.0]])
        if self.flip:  # mirrored about the placed box's vertical centre line
            cx = tx + s * (self.src_box[0] + self.src_box[2] / 2)
            m = np.array([[-1.0, 0, 2 * cx], [0, 1, 0], [0, 0, 1]]) @ m
        return m[:2]


def make_actors(composer: SceneComposer, rng: np.random.Generator, n_walkers: int, n_still: int) -> list[Actor]:
    """Walkers on nearby lanes in alternating directions, then still people placed anywhere."""
    W, H = composer.size
    lane = rng.uniform(0.25, 0.45) * H
    actors = []
    for k in range(n_walkers + n_still):
        sample, pi = composer.pool[int(rng.integers(len(composer.pool)))]
        kp = sample.people[pi].keypoints.astype(np.float64)
        image = read_image(sample.image_path)
        src_box = extent_box(kp, composer.skeleton)
        height = H * rng.uniform(0.35, 0.55)
        s = height / max(src_box[3], 1.0)
        w = src_box[2] * s
        if k < n_walkers:
            direction = 1 if k % 2 == 0 else -1
            speed = rng.uniform(4, 9)
            x = -0.3 * w + rng.uniform(0, 0.15 * W) if direction > 0 else W - 0.7 * w - rng.uniform(0, 0.15 * W)
            y = lane + rng.uniform(-0.08, 0.08) * H - height / 2 + H * 0.1
            velocity = np.array([direction * speed, rng.uniform(-0.3, 0.3)])
        else:
            x, y = rng.uniform(0, W - w), rng.uniform(0, H - height)
            velocity = np.zeros(2)
        offset = np.array([x, y]) - src_box[:2] * s
        actors.append(Actor(image, kp, body_mask(kp, composer.skeleton, image.shape[:2]), s, bool(rng.random() < 0.5),
                            offset, velocity, src_box))
    order = rng.permutation(len(actors))  # who is in front of whom
    return [actors[i] for i in order]


def render(composer: SceneComposer, background: np.ndarray, actors: list[Actor], frame: int,
           rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """One frame and its labels (one dict per actor, in the actors' order: keypoints, box, visible, still)."""
    W, H = composer.size
    canvas = background.astype(np.float32)
    masks, kps = [], []
    for a in actors:
        m = a.matrix(frame)
        warped = cv2.warpAffine(a.image, m, (W, H), flags=cv2.INTER_LINEAR).astype(np.float32)
        mask = cv2.warpAffine(a.mask, m, (W, H), flags=cv2.INTER_LINEAR)
        canvas = canvas * (1 - mask[..., None]) + warped * mask[..., None]
        kp = a.keypoints.copy()
        kp[:, :2] = apply_affine(a.keypoints[:, :2], m)
        if a.flip:
            kp = kp[composer.skeleton.flip_index]
        kp[kp[:, 2] <= 0] = 0.0
        masks.append(mask)
        kps.append(kp)
    labels = []
    for i, (kp, mask) in enumerate(zip(kps, masks)):
        front = np.max(masks[i + 1:], axis=0) if i + 1 < len(masks) else np.zeros((H, W), np.float32)
        xi = np.clip(np.round(kp[:, 0]).astype(int), 0, W - 1)
        yi = np.clip(np.round(kp[:, 1]).astype(int), 0, H - 1)
        kp[(front[yi, xi] > 0.5) & (kp[:, 2] > 0), 2] = 1.0
        kp[(kp[:, 0] < -0.5) | (kp[:, 0] >= W - 0.5) | (kp[:, 1] < -0.5) | (kp[:, 1] >= H - 0.5)] = 0.0
        ys, xs = np.nonzero(mask > 0.5)
        box = (np.array([xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1], float)
               if len(xs) else np.zeros(4))
        visible = float(((mask * (1 - front)) > 0.5).sum()) / max(float(len(xs)), 1.0)
        labels.append({"keypoints": kp, "box": box, "visible": visible, "still": actors[i].still})
    noisy = canvas + rng.normal(0, 3.0, canvas.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8), labels


def write_video(composer: SceneComposer, seed: int, path: Path, frames: int = 50) -> list[list[dict]]:
    """Compose video ``seed`` (2-3 walkers, 1-2 still people) into ``path`` (MPEG-4, 25 frames/s); its labels
    per frame."""
    rng = np.random.default_rng([seed, 20261202])
    background, _ = composer.background(rng)
    actors = make_actors(composer, rng, n_walkers=int(rng.integers(2, 4)), n_still=int(rng.integers(1, 3)))
    W, H = composer.size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    labels = []
    try:
        for f in range(frames):
            image, people = render(composer, background, actors, f, rng)
            writer.write(image)
            labels.append(people)
    finally:
        writer.release()
    return labels
