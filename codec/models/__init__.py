"""The model families and the registry from family name to class (CompressAI's zoo idea, in one table).

``base`` holds the contract every family keeps, ``factorized``, ``hyperprior`` and ``variable_rate`` one
family each, ``layers`` and ``integer_net`` their building blocks.
"""

from __future__ import annotations

from ..config import ModelConfig
from .base import Autoencoder
from .factorized import FactorizedPrior
from .hyperprior import ScaleHyperprior
from .variable_rate import VariableRateHyperprior

#: Family name (``ModelConfig.family``, ``config.FAMILIES``) -> the class that builds it.
MODEL_CLASSES: dict[str, type[Autoencoder]] = {
    "factorized": FactorizedPrior,
    "hyperprior": ScaleHyperprior,
    "variable-rate": VariableRateHyperprior,
}


def build_model(config: ModelConfig) -> Autoencoder:
    """Build an untrained model of ``config.family``; unknown families list the valid ones."""
    try:
        model_class = MODEL_CLASSES[config.family]
    except KeyError:
        raise ValueError(f"unknown model family {config.family!r}; valid: {', '.join(MODEL_CLASSES)}") from None
    return model_class(config)


__all__ = [
    "MODEL_CLASSES", "Autoencoder", "FactorizedPrior", "ScaleHyperprior", "VariableRateHyperprior", "build_model",
]  # fmt: skip
