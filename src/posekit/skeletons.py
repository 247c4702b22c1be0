"""Keypoint definitions as data: names, limbs, flip pairs, PCK torso pair, PCP limbs, OKS sigmas.

Every fact about a skeleton lives here and nowhere else (flip pairs are *derived* from the
``left_``/``right_`` names, so they cannot drift from the joint list). Joint names are lower-case
snake case as in COCO. Left and right are the *person's* own left and right ("person-centric").

Mapping between skeletons is by name: :func:`map_keypoints` copies the joints two skeletons share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """A keypoint definition.

    name: registry key, e.g. ``"lsp14"``.
    joints: joint names in array order (K of them).
    limbs: pairs of joint indices drawn as sticks.
    torso: (i, j) joint indices whose ground-truth distance normalises PCK (PROTOCOLS.md: LSP uses
        left shoulder - right hip).
    oks_sigmas: (K,) per-keypoint OKS sigmas (COCO's values, already divided by 10), or None.
    pcp_limbs: named PCP sticks; each end is a tuple of joint indices whose mean is the end point
        (a single joint, or a midpoint such as mid-hips for the torso stick).
    """

    name: str
    joints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    torso: tuple[int, int]
    oks_sigmas: tuple[float, ...] | None = None
    pcp_limbs: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.joints)
        if len(set(self.joints)) != k:
            raise ValueError(f"skeleton {self.name}: duplicate joint names")
        for a, b in self.limbs:
            if not (0 <= a < k and 0 <= b < k):
                raise ValueError(f"skeleton {self.name}: limb ({a}, {b}) out of range for {k} joints")
        if self.oks_sigmas is not None and len(self.oks_sigmas) != k:
            raise ValueError(f"skeleton {self.name}: {len(self.oks_sigmas)} OKS sigmas for {k} joints")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        """Array index of a joint name; raises KeyError with the known names."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"skeleton {self.name} has no joint {joint!r}; it has {list(self.joints)}") from None

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """(left, right) index pairs, derived from ``left_*`` / ``right_*`` names."""
        pairs = []
        for i, n in enumerate(self.joints):
            if n.startswith("left_") and ("right_" + n[5:]) in self.joints:
                pairs.append((i, self.joints.index("right_" + n[5:])))
        return tuple(pairs)

    @property
    def flip_index(self) -> np.ndarray:
        """(K,) permutation: after a horizontal flip, joint i of the flipped image is ``flip_index[i]``."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def is_left(self, i: int) -> bool:
        return self.joints[i].startswith("left_")

    def is_right(self, i: int) -> bool:
        return self.joints[i].startswith("right_")


def _lr(base: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for b in base for n in ("left_" + b, "right_" + b))


LSP14 = Skeleton(
    name="lsp14",
    joints=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
        "neck", "head_top",
    ),
    limbs=((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 12), (9, 12), (9, 10), (10, 11),
           (12, 13), (2, 8), (3, 9)),
    torso=(9, 2),  # left shoulder - right hip (PROTOCOLS.md, joints 10 and 3 one-based)
    # CrowdPose's sigmas for the same 14 joints (its head = head_top, neck = neck).
    oks_sigmas=(0.089, 0.087, 0.107, 0.107, 0.087, 0.089, 0.062, 0.072, 0.079, 0.079, 0.072, 0.062,
                0.079, 0.079),
    pcp_limbs={
        "right_lower_leg": ((0,), (1,)), "right_upper_leg": ((1,), (2,)),
        "left_upper_leg": ((3,), (4,)), "left_lower_leg": ((4,), (5,)),
        "right_lower_arm": ((6,), (7,)), "right_upper_arm": ((7,), (8,)),
        "left_upper_arm": ((9,), (10,)), "left_lower_arm": ((10,), (11,)),
        "torso": ((2, 3), (8, 9)),  # mid-hips to mid-shoulders
        "head": ((12,), (13,)),
    },
)

MPII16 = Skeleton(
    name="mpii16",
    joints=(
        "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "pelvis", "thorax", "upper_neck", "head_top",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    ),
    limbs=((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9),
           (10, 11), (11, 12), (12, 7), (7, 13), (13, 14), (14, 15)),
    torso=(13, 2),
    pcp_limbs={
        "right_lower_leg": ((0,), (1,)), "right_upper_leg": ((1,), (2,)),
        "left_upper_leg": ((3,), (4,)), "left_lower_leg": ((4,), (5,)),
        "right_lower_arm": ((10,), (11,)), "right_upper_arm": ((11,), (12,)),
        "left_upper_arm": ((13,), (14,)), "left_lower_arm": ((14,), (15,)),
        "torso": ((6,), (7,)), "head": ((8,), (9,)),
    },
)

COCO17 = Skeleton(
    name="coco17",
    joints=("nose",) + _lr(("eye",)) + _lr(("ear",)) + _lr(("shoulder", "elbow", "wrist", "hip", "knee", "ankle")),
    # COCO's own skeleton list, zero-based.
    limbs=((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
           (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
    torso=(5, 12),
    oks_sigmas=(0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
                0.087, 0.087, 0.089, 0.089),
    pcp_limbs={
        "right_lower_leg": ((16,), (14,)), "right_upper_leg": ((14,), (12,)),
        "left_upper_leg": ((13,), (11,)), "left_lower_leg": ((15,), (13,)),
        "right_lower_arm": ((10,), (8,)), "right_upper_arm": ((8,), (6,)),
        "left_upper_arm": ((5,), (7,)), "left_lower_arm": ((7,), (9,)),
        "torso": ((11, 12), (5, 6)),
    },
)

# The union of COCO-17 and LSP-14: COCO's 17 keypoints in COCO's order, then LSP's neck and head top. One network
# answers both natively: COCO people label the first 17, LSP / LSPet / MPII people the 12 limb joints plus neck and
# head top; unlabelled joints weigh nothing in the loss (a per-dataset joint mask by visibility). COCO-17 results are
# its first 17 joints, LSP-14 ones are read by name.
COCO19 = Skeleton(
    name="coco19",
    joints=COCO17.joints + ("neck", "head_top"),
    limbs=COCO17.limbs + ((17, 18), (5, 17), (6, 17)),
    torso=COCO17.torso,
    oks_sigmas=COCO17.oks_sigmas + LSP14.oks_sigmas[12:],  # neck, head top: CrowdPose's values, as LSP-14
    pcp_limbs={**COCO17.pcp_limbs, "head": ((17,), (18,))},
)

JHMDB15 = Skeleton(
    name="jhmdb15",
    joints=(
        "neck", "belly", "head", "right_shoulder", "left_shoulder", "right_hip", "left_hip",
        "right_elbow", "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist",
        "right_ankle", "left_ankle",
    ),
    limbs=((0, 2), (0, 1), (0, 3), (0, 4), (1, 5), (1, 6), (3, 7), (7, 11), (4, 8), (8, 12), (5, 9),
           (9, 13), (6, 10), (10, 14)),
    torso=(4, 5),
)

# Poselets / H3D (Bourdev & Malik 2009): the keypoints of the PASCAL person XML files.
H3D20 = Skeleton(
    name="h3d20",
    joints=_lr(("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "eye", "ear", "toes"))
    + ("nose", "back_head"),
    limbs=((0, 2), (2, 4), (1, 3), (3, 5), (0, 1), (6, 7), (0, 6), (1, 7), (6, 8), (8, 10), (7, 9), (9, 11),
           (10, 16), (11, 17), (12, 18), (13, 18), (12, 14), (13, 15)),
    torso=(0, 7),
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (LSP14, MPII16, COCO17, COCO19, JHMDB15, H3D20)}


def get_skeleton(name: str) -> Skeleton:
    """Look a skeleton up by name (``lsp14``, ``mpii16``, ``coco17``, ``coco19``, ``jhmdb15``, ``h3d20``)."""
    try:
        return SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r}; known: {sorted(SKELETONS)}") from None


#: joints that two skeletons name differently but place alike: LSP's "neck" is annotated where MPII
#: puts its "upper_neck" (the base of the head, not the thorax), so LSP-14 <-> MPII-16 share 14 joints
#: (the 14-joint comparisons of the literature read them as one joint).
SAME_JOINT = {"upper_neck": "neck"}


def common_joints(src: Skeleton, dst: Skeleton) -> list[tuple[int, int]]:
    """(src_index, dst_index) for every joint the two skeletons share (same name, or the same joint
    under the names of :data:`SAME_JOINT`), in ``dst`` order."""

    def canonical(name: str) -> str:
        return SAME_JOINT.get(name, name)

    names = [canonical(n) for n in src.joints]
    return [(names.index(canonical(n)), j) for j, n in enumerate(dst.joints) if canonical(n) in names]


def map_keypoints(keypoints: np.ndarray, src: Skeleton, dst: Skeleton) -> np.ndarray:
    """Re-express (..., K_src, C) keypoints in ``dst``'s joint order. Joints ``dst`` has and ``src``
    lacks come out as zeros (v = 0: not labelled)."""
    out = np.zeros(keypoints.shape[:-2] + (dst.num_joints, keypoints.shape[-1]), dtype=keypoints.dtype)
    for i, j in common_joints(src, dst):
        out[..., j, :] = keypoints[..., i, :]
    return out
