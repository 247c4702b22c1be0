"""posekit: supervised 2D human pose estimation — datasets, algorithms, losses, metrics, and a
pretrained default model.

    >>> import posekit
    >>> predictor = posekit.load_model("default")            # or a zoo name, a checkpoint, an ONNX folder
    >>> for person in predictor.predict("photo.jpg"):
    ...     print(person.score, person["left_wrist"])          # (x, y, score) in image pixels

:func:`load_model` takes ``backend=``, ``device=``, ``threads=``, ``overrides=`` and any predictor setting.
"""

from posekit.api import load_model
from posekit.predict.base import Predictor
from posekit.skeletons import COCO17, H3D20, JHMDB15, LSP14, MPII16, Skeleton, get_skeleton
from posekit.types import Person, Prediction, Sample

__version__ = "0.1.0"

__all__ = [
    "COCO17", "H3D20", "JHMDB15", "LSP14", "MPII16", "Person", "Prediction", "Predictor", "Sample", "Skeleton",
    "get_skeleton", "load_model",
]
