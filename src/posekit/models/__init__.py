"""Model registry: the one registry in posekit, for model entry points only.

``@register_model("name")`` on a builder function; ``get_model(name, **kwargs)`` builds one;
``list_models()`` lists them. A duplicate name is an error (torchvision's ``models/_api.py`` idea).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is already registered")
        _MODELS[name] = fn
        return fn

    return wrap


def _import_all() -> None:
    # Importing the method modules runs their @register_model decorators.
    from posekit.models import centernet, deeppose, grmi, hourglass, hrnet, paf, simplebaseline, tompson  # noqa: F401


def get_model(name: str, **kwargs) -> nn.Module:
    _import_all()
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; registered: {list_models()}")
    return _MODELS[name](**kwargs)


def list_models() -> list[str]:
    _import_all()
    return sorted(_MODELS)
