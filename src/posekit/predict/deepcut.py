"""DeepCut prediction (Pishchulin et al. 2016): the part maps of a bottom-up network grouped into people by
the subset partition and labeling ILP.

The part confidence maps of this project's part affinity field network (a departure: the paper used its own
part detector) give body-part candidates, learnt unary and pairwise probabilities score them
(:mod:`posekit.grouping.deepcut`), and the ILP (:mod:`posekit.grouping.ilp`, HiGHS) picks, labels and groups
them into people in one exact solve per image. The image handling -- letterbox, flip test, ``boxes``, video
-- is :class:`~posekit.predict.bottomup.BottomUpPredictor`'s.
"""

from __future__ import annotations

import inspect
import time
from collections import deque
from pathlib import Path

import numpy as np
import yaml

from posekit.checkpoint import from_storable
from posekit.codecs.paf import PAFCodec
from posekit.config import PredictConfig
from posekit.grouping.deepcut import group, paf_feature
from posekit.predict.bottomup import BottomUpPredictor
from posekit.skeletons import Skeleton

#: how many inputs' costs a predictor keeps for :meth:`DeepCutPredictor.runtime_summary` (a long video must
#: not grow memory without bound); the counts cover every input
STATS_WINDOW = 1000


class DeepCutPredictor(BottomUpPredictor):
    """Every person of a whole image by DeepCut.

    DeepCut is slow by design: the ILP's size grows with the square of the candidates (and its transitivity
    with their cube), so the candidates are capped (``max_per_class``, ``max_candidates``) and each image's
    solve stops at ``time_limit`` seconds with the best solution found (its status then says "time_limit").
    Every image's cost is recorded: :attr:`last_stats` (the latest image's candidates, ILP size, status and
    seconds) and :meth:`runtime_summary` (all images since construction; medians over the last
    :data:`STATS_WINDOW`).

    model, codec, skeleton, device, flip_test, max_people, padding: as :class:`BottomUpPredictor` (the codec
    gives the maps' geometry). pairwise: the :func:`posekit.grouping.deepcut.fit` model.
    threshold, max_per_class, max_candidates, max_classes, min_unary, time_limit, min_parts: see
    :func:`posekit.grouping.deepcut.group`. person_threshold: people whose DeepCut person score (mean over the
    K parts of their joints' unary probabilities) is lower are not returned.
    """

    def __init__(self, model, codec: PAFCodec, skeleton: Skeleton, pairwise: dict,
                 device: str | None = None, flip_test: bool = PredictConfig.flip_test, person_threshold: float = 0.05,
                 max_people: int = PredictConfig.max_people, padding: float = 1.25, threshold: float = 0.1,
                 max_per_class: int = 8, max_candidates: int = 96, max_classes: int = 1, min_unary: float = 0.1,
                 time_limit: float = 10.0, min_parts: int = 3) -> None:
        super().__init__(model, codec, skeleton, device=device, flip_test=flip_test,
                         person_threshold=person_threshold, max_people=max_people, padding=padding)
        if int(pairwise["num_classes"]) != skeleton.num_joints:
            raise ValueError(f"the pairwise model has {pairwise['num_classes']} part classes, the part network "
                             f"{skeleton.num_joints}")
        self.pairwise = pairwise
        self.settings = {"threshold": float(threshold), "max_per_class": int(max_per_class),
                         "max_candidates": int(max_candidates), "max_classes": int(max_classes),
                         "min_unary": float(min_unary), "time_limit": float(time_limit), "min_parts": int(min_parts)}
        self.stats: deque[dict] = deque(maxlen=STATS_WINDOW)  # the latest grouped inputs (images or box crops)
        self._counts = {"inputs": 0, "time_limit_hits": 0}

    @property
    def last_stats(self) -> dict | None:
        """The latest grouped input's cost: candidates, ILP variables / constraints / triangles / rounds,
        solver status, ``ilp_seconds``, ``seconds`` (grouping) and ``network_seconds`` (its share of the
        network pass)."""
        return self.stats[-1] if self.stats else None

    def runtime_summary(self) -> dict:
        """Over every input grouped so far: count and time-limit hits; median and max candidates and seconds
        over the last :data:`STATS_WINDOW` inputs."""
        if not self.stats:
            return {"inputs": 0}
        cand = np.array([s["candidates"] for s in self.stats])
        ilp = np.array([s["ilp_seconds"] for s in self.stats])
        total = np.array([s["seconds"] + s["network_seconds"] for s in self.stats])
        return {"inputs": self._counts["inputs"], "median_candidates": float(np.median(cand)),
                "max_candidates": int(cand.max()),
                "median_ilp_seconds": round(float(np.median(ilp)), 4), "max_ilp_seconds": round(float(ilp.max()), 4),
                "median_seconds": round(float(np.median(total)), 4),
                "time_limit_hits": self._counts["time_limit_hits"], "time_limit": self.settings["time_limit"]}

    def _network_maps(self, image: np.ndarray, mats: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        maps = super()._network_maps(image, mats)
        self._network_seconds = (time.perf_counter() - t0) / len(mats)  # each input's share, for its stats
        return maps

    def _group(self, heatmaps: np.ndarray, pafs: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """One input's people by the ILP (:func:`posekit.grouping.deepcut.group`); its cost goes to :attr:`stats`."""
        paf_score = paf_feature(self.codec, pafs) if self.pairwise.get("use_paf") else None
        people, stats = group(heatmaps, self.pairwise, self.input_size, self.codec.heatmap_size, self.codec.sigma,
                              paf_score=paf_score, **self.settings)
        stats["network_seconds"] = round(self._network_seconds, 4)
        self.stats.append(stats)
        self._counts["inputs"] += 1
        self._counts["time_limit_hits"] += int(stats["status"] != "optimal")
        return people


def deepcut_settings(path: Path, state: dict, overrides: list[str], predictor_kwargs: dict | None) -> dict:
    """The settings a DeepCut weights file stores, with ``deepcut.KEY=VALUE`` overrides and ``predictor_kwargs``
    applied; unknown settings are a ValueError naming the file."""
    settings = dict(from_storable(state.get("settings") or {}))
    for o in overrides:
        if o.startswith("deepcut."):
            key, _, value = o[len("deepcut."):].partition("=")
            settings[key] = yaml.safe_load(value)
    known = set(inspect.signature(DeepCutPredictor).parameters) - {"model", "codec", "skeleton", "pairwise", "device"}
    unknown = sorted((set(settings) | set(predictor_kwargs or {})) - known)
    if unknown:
        raise ValueError(f"{path}: unknown DeepCut settings {unknown}; known: {sorted(known)}")
    settings.update(predictor_kwargs or {})
    return settings


def deepcut_from_parts(parts: BottomUpPredictor, state: dict, settings: dict, device: str | None = None
                       ) -> DeepCutPredictor:
    """The :class:`DeepCutPredictor` over a loaded part network (its network, codec and skeleton, and the
    flip test, person cap and padding unless ``settings`` says otherwise) and a DeepCut weights file's pairwise
    model."""
    settings = dict(settings)
    settings.setdefault("flip_test", parts.flip_test)
    settings.setdefault("max_people", parts.max_people)
    settings.setdefault("padding", parts.padding)
    return DeepCutPredictor(parts.model, parts.codec, parts.skeleton, from_storable(state["pairwise"]),
                            device=device, **settings)
