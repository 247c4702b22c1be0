"""Checkpoint files (posekit.checkpoint): fine-tuning onto another skeleton keeps what each shared joint learnt."""

import torch

from posekit.checkpoint import remap_joint_channels
from posekit.skeletons import COCO19, LSP14


def test_shared_joints_keep_their_output_channels_when_the_skeleton_changes():
    src = {"final.weight": torch.arange(14.0)[:, None].repeat(1, 3), "offset_head.weight": torch.arange(28.0)[:, None],
           "backbone.weight": torch.ones(2)}
    own = {"final.weight": torch.full((19, 3), -1.0), "offset_head.weight": torch.full((38, 1), -1.0),
           "backbone.weight": torch.zeros(2)}
    out = remap_joint_channels(src, own, LSP14, COCO19)
    wrist = (LSP14.index("left_wrist"), COCO19.index("left_wrist"))
    assert torch.equal(out["final.weight"][wrist[1]], src["final.weight"][wrist[0]])
    assert torch.equal(out["offset_head.weight"][2 * wrist[1]:2 * wrist[1] + 2],
                       src["offset_head.weight"][2 * wrist[0]:2 * wrist[0] + 2])
    assert torch.equal(out["final.weight"][COCO19.index("nose")], torch.full((3,), -1.0))  # LSP has no nose: fresh
    assert torch.equal(out["backbone.weight"], src["backbone.weight"])  # same shape: left to the caller as it was
