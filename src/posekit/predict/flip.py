"""The flip test: a network's outputs for a batch and for its mirror image, averaged back into one.

Every network output kind posekit has is mirrored back here, in one place:

* ``heatmaps`` (N, K, h, w) (and other ``*heatmaps``): flipped along x, left/right channels swapped by the
  skeleton's ``flip_index``;
* ``offsets`` (N, K, 2, h, w): likewise, and dx negated;
* ``coords`` (N, K, 2), normalised to [0, 1] as :class:`~posekit.codecs.regression.RegressionCodec`:
  channels swapped, x -> 1 - x; ``scores`` (N, K): channels swapped;
* ``pafs`` (N, 2L, h, w): flipped along x, limbs permuted and re-oriented by
  :func:`~posekit.codecs.paf.limb_flip`, the x component negated.

Any other output is left as the unmirrored pass gave it. The mirrored batch goes through the network in the same pass
as the original (one pass over the weights instead of two: faster on a CPU, the same numbers in eval mode).
"""

from __future__ import annotations

import numpy as np
import torch

from posekit.codecs.heatmap import HeatmapCodec
from posekit.codecs.regression import RegressionCodec


def forward_with_mirror(model, images: torch.Tensor, flip_index: np.ndarray | None) -> tuple[dict, dict | None]:
    """(the model's outputs for ``images`` (N, 3, H, W), those for their mirror images or None without
    ``flip_index``)."""
    if flip_index is None:
        return model(images), None
    both = model(torch.cat([images, torch.flip(images, dims=[3])]))
    n = len(images)
    return {k: v[:n] for k, v in both.items()}, {k: v[n:] for k, v in both.items()}


def mirror_average(out: dict, flipped: dict | None, flip_index: np.ndarray | None,
                   limb_flip: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, torch.Tensor]:
    """``out``'s float tensors averaged with the mirrored pass ``flipped`` mapped back (module docstring);
    ``out`` itself (as float) when there is no mirrored pass. ``limb_flip``: (perm, sign) of the PAF limbs,
    needed only when the outputs hold ``pafs``; they come back as (N, L, 2, h, w)."""
    result = {k: v.float() for k, v in out.items()}
    if "pafs" in result:
        n, _, h, w = result["heatmaps"].shape
        result["pafs"] = result["pafs"].reshape(n, -1, 2, h, w)
    if flipped is None:
        return result
    device = next(iter(result.values())).device
    perm = torch.as_tensor(flip_index, device=device)
    for key, value in result.items():
        mirrored = flipped[key].float()
        if key.endswith("heatmaps"):  # "heatmaps", and Tompson's "coarse_heatmaps"
            mirrored = torch.flip(mirrored, dims=[3])[:, perm]
        elif key == "offsets":  # mirror the field back: swap left/right joints, negate dx
            mirrored = torch.flip(mirrored, dims=[4])[:, perm]
            mirrored = torch.stack([-mirrored[:, :, 0], mirrored[:, :, 1]], dim=2)
        elif key == "coords":
            mirrored = mirrored[:, perm]
            mirrored = torch.stack([1.0 - mirrored[..., 0], mirrored[..., 1]], dim=-1)
        elif key == "scores":
            mirrored = mirrored[:, perm]
        elif key == "pafs":
            limb_perm, sign = (torch.as_tensor(a, device=device) for a in limb_flip)
            mirrored = torch.flip(mirrored.reshape(value.shape), dims=[4])[:, limb_perm]
            mirrored = mirrored * sign[None, :, None, None, None]
            mirrored = torch.stack([-mirrored[:, :, 0], mirrored[:, :, 1]], dim=2)  # mirror x back
        else:  # an output no decoding reads: the unmirrored pass's
            continue
        result[key] = 0.5 * (value + mirrored)
    return result


#: the outputs :func:`mirror_average_numpy` mirrors back
NUMPY_MIRRORED = ("heatmaps", "offsets", "coords", "scores")


def mirror_average_numpy(out: dict[str, np.ndarray], flipped: dict[str, np.ndarray] | None,
                         flip_index: np.ndarray | None) -> dict[str, np.ndarray]:
    """:func:`mirror_average` for NumPy outputs (float32, on the CPU) of the kinds in :data:`NUMPY_MIRRORED`: the
    same numbers, without torch's parallel kernels (on 2 busy cores their threads wait on each other: 100 ms a call
    measured under load, where NumPy's single-threaded views and one add take ~1 ms)."""
    result = {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}
    if flipped is None:
        return result
    perm = np.asarray(flip_index)
    for key, value in result.items():
        mirrored = np.asarray(flipped[key], dtype=np.float32)
        if key == "heatmaps":
            mirrored = mirrored[:, perm, :, ::-1]
        elif key == "offsets":
            mirrored = mirrored[:, perm, :, :, ::-1]
            mirrored = np.stack([-mirrored[:, :, 0], mirrored[:, :, 1]], axis=2)
        elif key == "coords":
            mirrored = mirrored[:, perm]
            mirrored = np.stack([1.0 - mirrored[..., 0], mirrored[..., 1]], axis=-1)
        elif key == "scores":
            mirrored = mirrored[:, perm]
        else:
            raise ValueError(f"mirror_average_numpy mirrors {', '.join(NUMPY_MIRRORED)}, not {key!r}")
        result[key] = 0.5 * (value + mirrored)
    return result


@torch.no_grad()
def predict_heatmaps(model, images: torch.Tensor, flip_index: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray | None]:
    """A heatmap model's raw maps for normalised crops (N, 3, H, W): (heatmaps (N, K, h, w), offsets
    (N, K, 2, h, w) or None) as NumPy, flip-averaged with ``flip_index`` -- for decoders other than the
    codec's (posekit.classic's tree inference)."""
    out = mirror_average(*forward_with_mirror(model, images, flip_index), flip_index)
    offsets = out.get("offsets")
    return out["heatmaps"].cpu().numpy(), None if offsets is None else offsets.cpu().numpy()


@torch.no_grad()
def predict_crops(model, images: torch.Tensor, codec: HeatmapCodec, flip_index: np.ndarray | None = None
                  ) -> np.ndarray:
    """Keypoints (N, K, 3) = (x, y, score) in input-crop pixels for normalised crops (N, 3, H, W), the mirrored
    crops averaged in with ``flip_index`` (:func:`mirror_average`); see :func:`decode_crops`."""
    return decode_crops(mirror_average(*forward_with_mirror(model, images, flip_index), flip_index), codec)


def decode_crops(out: dict[str, torch.Tensor], codec: HeatmapCodec) -> np.ndarray:
    """Keypoints (N, K, 3) = (x, y, score) in input-crop pixels from a top-down network's outputs, either kind:
    {"heatmaps": (N, K, h, w), "offsets" optional} decoded by ``codec``, or {"coords": (N, K, 2) normalised as
    RegressionCodec, "scores": (N, K) optional}."""
    if "heatmaps" in out:
        offsets = out.get("offsets")
        return codec.decode(out["heatmaps"].cpu().numpy(), None if offsets is None else offsets.cpu().numpy())
    if "coords" in out:
        scores = out.get("scores")
        regression = RegressionCodec(input_size=tuple(codec.input_size))
        return regression.decode(out["coords"].cpu().numpy(), None if scores is None else scores.cpu().numpy())
    raise ValueError(f"model output has neither 'heatmaps' nor 'coords' (keys: {sorted(out)})")
