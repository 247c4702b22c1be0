"""posekit: supervised 2D human pose estimation — datasets, algorithms, losses, metrics, and a
pretrained default model.

    >>> import posekit
    >>> predictor = posekit.load_model("default")
    >>> predictions = predictor.predict("photo.jpg")
"""

from posekit.skeletons import COCO17, H3D20, JHMDB15, LSP14, MPII16, Skeleton, get_skeleton
from posekit.types import Person, Prediction, Sample

__version__ = "0.1.0"

__all__ = [
    "COCO17", "H3D20", "JHMDB15", "LSP14", "MPII16", "Person", "Prediction", "Sample", "Skeleton",
    "get_skeleton", "load_model",
]


def load_model(name_or_path: str = "default", device: str | None = None):
    """Load a predictor: ``"default"`` (the weights shipped in the package) or a checkpoint path.
    See :func:`posekit.infer.load_model`."""
    from posekit.infer import load_model as _load

    return _load(name_or_path, device=device)
