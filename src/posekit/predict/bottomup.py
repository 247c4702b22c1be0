"""Bottom-up prediction (part affinity fields, Cao et al. 2017): every person of a whole image at once.

The image is letterboxed into the network input (:func:`~posekit.preprocess.network_input`, as in
training), the network gives part maps and affinity fields, and the model's
:class:`~posekit.codecs.paf.PAFCodec` assembles people from them (line integrals, greedy matching limb by limb
over the tree); keypoints go back to image pixels through the inverse letterbox.
"""

from __future__ import annotations

import numpy as np

from posekit.codecs.paf import PAFCodec, limb_flip
from posekit.config import PredictConfig
from posekit.data.transforms import affine_matrix, apply_affine, box_to_center_scale, invert_affine
from posekit.predict.base import Predictor
from posekit.preprocess import letterbox_matrix, network_input
from posekit.skeletons import Skeleton
from posekit.types import Prediction, box_from_keypoints


class BottomUpPredictor(Predictor):
    """Every person of a whole image from a bottom-up network.

    model: eval forward -> {"heatmaps": (N, K, h, w), "pafs": (N, 2L, h, w)} (a
        :class:`~posekit.models.paf.PAFNet` or its ONNX export). codec: the PAFCodec it trained with.
    skeleton: the model's keypoint definition. flip_test: average the maps and fields with those of the
        mirrored input (left/right joints and limbs swapped back, the fields' x component negated).
    person_threshold: people scoring less are not returned (the person score of
        :meth:`~posekit.codecs.paf.PAFCodec.decode_scored`, in [0, 1]). max_people: at most this many.
    padding: ``predict(image, boxes)`` looks at each box enlarged this much (as the top-down predictor).
    input_size: the side of the square network input (pixels, a multiple of 32); 0 = the codec's.
    """

    def __init__(self, model, codec: PAFCodec, skeleton: Skeleton, device: str | None = None,
                 flip_test: bool = PredictConfig.flip_test, person_threshold: float = PredictConfig.person_threshold,
                 max_people: int = PredictConfig.max_people, padding: float = 1.25,
                 input_size: int = PredictConfig.input_size) -> None:
        super().__init__(skeleton, device, flip_test)
        self.model = model.to(self.device).eval()
        self.codec = codec.resized(input_size) if input_size else codec
        self.person_threshold = person_threshold
        self.max_people = max_people
        self.padding = padding
        self.input_size = tuple(self.codec.input_size)
        self._flip = limb_flip(codec.limbs, skeleton.flip_index)  # (limb permutation, sign) of a mirrored input

    def maps(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, H, W, 3) uint8 BGR network inputs -> (heatmaps (N, K, h, w), pafs (N, L, 2, h, w)) float32,
        flip-averaged when ``flip_test`` is set."""
        out = self._network_outputs(self.model, inputs, self._flip)
        return out["heatmaps"].cpu().numpy(), out["pafs"].cpu().numpy()

    def _network_maps(self, image: np.ndarray, mats: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`maps` of the network inputs the image -> input matrices ``mats`` cut."""
        return self.maps(np.stack([network_input(image, m, self.input_size) for m in mats]))

    def _group(self, heatmaps: np.ndarray, pafs: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """One input's (K, h, w) maps and (L, 2, h, w) fields -> its people (keypoints (K, 3) in input pixels,
        score), best first: the PAF codec's greedy assembly."""
        return self.codec.decode_scored(heatmaps, pafs)

    def _people(self, image: np.ndarray, mats: list[np.ndarray]) -> list[list[tuple[np.ndarray, float]]]:
        """The people (keypoints (K, 3) in image pixels, score) seen through each image -> input matrix."""
        heatmaps, pafs = self._network_maps(image, mats)
        out = []
        for hm, pf, m in zip(heatmaps, pafs, mats):
            back = invert_affine(m)
            found = []
            for kp, score in self._group(hm, pf):
                kp = kp.copy()
                on = kp[:, 2] > 0
                kp[on, :2] = apply_affine(kp[on, :2], back)
                found.append((kp, float(score)))
            out.append(found)
        return out

    def _predict_image(self, image: np.ndarray) -> list[Prediction]:
        """Every person of the image, sorted by score; a person's box is the extent of their keypoints
        (missing joints all zero)."""
        (people,) = self._people(image, [letterbox_matrix(image.shape[1::-1], self.input_size)])
        return [Prediction(kp, score, box_from_keypoints(kp), self.skeleton)
                for kp, score in people if score >= self.person_threshold][: self.max_people]

    def _predict_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[Prediction]:
        """The region of each box, enlarged ``padding`` times, is looked at on its own and the best-scoring
        person whose keypoints' centre lies in the box is returned (keypoints all zero, score 0, when there is
        none), one prediction per box in their order, with the given box."""
        aspect = self.input_size[0] / self.input_size[1]
        mats = [affine_matrix(*box_to_center_scale(box, aspect, self.padding), self.input_size) for box in boxes]
        out = []
        for box, people in zip(boxes, self._people(image, mats)):
            inside = [(kp, s) for kp, s in people
                      if _centre_inside(kp, box)] or people  # nobody centred in the box: the crop's best
            kp, score = inside[0] if inside else (np.zeros((self.skeleton.num_joints, 3)), 0.0)
            out.append(Prediction(kp, score, box, self.skeleton))
        return out


def _centre_inside(keypoints: np.ndarray, box: np.ndarray) -> bool:
    """True when the mean of the found keypoints lies in the (x, y, w, h) box."""
    on = keypoints[:, 2] > 0
    if not on.any():
        return False
    cx, cy = keypoints[on, :2].mean(axis=0)
    return bool(box[0] <= cx <= box[0] + box[2] and box[1] <= cy <= box[1] + box[3])
