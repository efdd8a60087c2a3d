"""The one place that imports CompressAI: the entropy models, the model base class and GDN.

compressai 1.2.8 imports torch_geometric, which calls torch.jit.script at import (deprecated in torch 2.14):
without the filter every `aecodec encode` or `decode` printed two lines of FutureWarning on stderr.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional
    from compressai.layers import GDN
    from compressai.models import CompressionModel

__all__ = ["CompressionModel", "EntropyBottleneck", "GDN", "GaussianConditional"]
