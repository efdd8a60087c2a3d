"""The one place that imports CompressAI: the entropy models, the model base class and GDN.

CompressAI's package ``__init__`` files import every subpackage eagerly: ``compressai`` imports its datasets
and transform registry, which import torch_geometric, which imports torch._dynamo. On this project's 2-core CPU
that took 3.3 s of the 5 s an `aecodec decode` spent before decoding anything, for code the codec never runs.
So, unless the process has already imported it, the packages named in :data:`LAZY_PACKAGES` are put in
``sys.modules`` as :class:`LazyPackage` modules: their ``__init__`` runs without its own ``from . import ...``
statements, which run later, in order, as far as the first that defines a name asked for (a submodule imports
by itself). Everything CompressAI exports stays reachable: ``import compressai; compressai.datasets`` or
``from compressai.models import ScaleHyperprior`` then import what they need, the same module objects as an
eager import would have made.

compressai 1.2.8 imports torch_geometric, which calls torch.jit.script at import (deprecated in torch 2.14):
without the filter every command that reaches it printed two lines of FutureWarning on stderr.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import types
import warnings

#: The packages whose ``__init__`` imports more than the codec needs, parents first.
LAZY_PACKAGES = ("compressai", "compressai.models", "compressai.latent_codecs")


def _ignore_jit_script_warning() -> None:
    """Inside a ``warnings.catch_warnings()`` block: drop torch_geometric's FutureWarning (see above)."""
    warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)


class LazyPackage(types.ModuleType):
    """A package whose own imports (``from .x import ...``, ``from <package> import ...`` at the top level of its
    ``__init__``) wait until one of their names is asked for."""

    def __getattr__(self, name: str):
        deferred = self.__dict__.setdefault("_deferred_imports", [])
        if not name.startswith("__"):
            try:
                return importlib.import_module(f"{self.__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{self.__name__}.{name}":
                    raise
        while deferred:  # a dunder (``__all__``, asked by ``import *``) completes the package
            statement = deferred.pop(0)
            with warnings.catch_warnings():
                _ignore_jit_script_warning()
                exec(compile(ast.Module([statement], []), self.__file__, "exec"), self.__dict__)
            if name in self.__dict__ and not name.startswith("__"):
                return self.__dict__[name]
        if name in self.__dict__:
            return self.__dict__[name]
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        if self.__dict__.get("_deferred_imports"):
            try:
                self.__getattr__("__all__")  # runs every deferred import
            except AttributeError:
                pass  # a package without __all__
        return sorted(self.__dict__)


def _install_lazy(name: str) -> None:
    """Put ``name`` in sys.modules as a LazyPackage, unless it was imported already."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or spec.submodule_search_locations is None:
        return  # not an ordinary package: let the plain import below report what is wrong
    with open(spec.origin, encoding="utf-8") as source:
        tree = ast.parse(source.read(), spec.origin)

    def own_import(node: ast.stmt) -> bool:
        return isinstance(node, ast.ImportFrom) and (node.level > 0 or node.module == name)

    module = LazyPackage(name)
    module.__spec__, module.__loader__, module.__file__ = spec, spec.loader, spec.origin
    module.__path__, module.__package__ = list(spec.submodule_search_locations), name
    module.__dict__["_deferred_imports"] = [node for node in tree.body if own_import(node)]
    sys.modules[name] = module
    try:
        exec(compile(ast.Module([n for n in tree.body if not own_import(n)], []), spec.origin, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise


for _package in LAZY_PACKAGES:
    _install_lazy(_package)

with warnings.catch_warnings():
    _ignore_jit_script_warning()
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional
    from compressai.layers import GDN
    from compressai.models.base import CompressionModel

__all__ = ["CompressionModel", "EntropyBottleneck", "GDN", "GaussianConditional"]
