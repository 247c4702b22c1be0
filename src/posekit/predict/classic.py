"""The classic methods' predictors (:mod:`posekit.classic`), from their weights files.

Pictorial structures (``ps``) and its poselet-conditioned variant (``pcps``) are predictors themselves
(:class:`~posekit.classic.pictorial.PictorialStructures` derives from the one
:class:`~posekit.predict.base.Predictor` base). ``ps_cnn`` is the top-down pipeline of a CNN whose heatmaps are
decoded by the tree MAP (:mod:`posekit.classic.cnn_unaries`) instead of the codec's per-joint arg-max:
:class:`TreeDecodingPredictor`.
"""

from __future__ import annotations

import numpy as np

from posekit.checkpoint import from_storable
from posekit.classic.cnn_unaries import TreeDecoder
from posekit.classic.pictorial import PictorialStructures
from posekit.classic.poselets import PoseletConditionedPS
from posekit.classic.tree import Springs
from posekit.predict.base import Predictor
from posekit.predict.topdown import TopDownPredictor


class TreeDecodingPredictor(TopDownPredictor):
    """A :class:`~posekit.predict.topdown.TopDownPredictor` whose heatmap decoding is the tree MAP; everything
    else -- network, codec, detector, settings -- is the ``base`` predictor's."""

    def __init__(self, base: TopDownPredictor, decoder: TreeDecoder) -> None:
        super().__init__(base.model, base.codec, base.skeleton, device=base.device, **base.settings())
        self.decoder = decoder

    def _keypoints(self, crops: np.ndarray) -> np.ndarray:
        heatmaps = self._network_outputs(self.model, crops)["heatmaps"]
        return self.decoder.decode(heatmaps.cpu().numpy())

    def state(self, base: str) -> dict:
        """What the weights file holds: the base network's name (a zoo name or a checkpoint path, loaded by
        ``load_model``) and the tree decoder's parameters."""
        d = self.decoder
        return {"base": base, "parents": d.parents, "springs": d.springs.to_dict(), "temperature": d.temperature,
                "strength": d.strength, "floor": d.floor}

    @classmethod
    def from_state(cls, state: dict, base: TopDownPredictor) -> TreeDecodingPredictor:
        """From a weights file's model ``state`` and its base network's predictor (loaded with PyTorch)."""
        decoder = TreeDecoder(state["parents"], Springs.from_dict(state["springs"]), base.codec,
                              state["temperature"], state["strength"], state["floor"])
        return cls(base, decoder)


def classic_predictor(state: dict, base: TopDownPredictor | None = None) -> Predictor:
    """The predictor a classic weights file describes (``state`` as read by
    :func:`posekit.checkpoint.safe_load`); ``ps_cnn`` needs its ``base`` network's predictor, loaded by the
    caller from the name the file stores (``state["model"]["base"]``)."""
    method = state["classic"]
    model = from_storable(state["model"])
    if method == "ps":
        return PictorialStructures.from_state(model)
    if method == "pcps":
        return PoseletConditionedPS.from_state(model)
    if base is None:
        raise ValueError("a ps_cnn weights file needs its base network's predictor")
    return TreeDecodingPredictor.from_state(model, base)
