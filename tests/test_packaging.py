"""What installing aecodec puts on a machine: one `aecodec` namespace (nothing else at the top level of
site-packages), the shipped checkpoints inside it, loading and coding from an installed, non-editable copy;
and the runtime apart from the training code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from aecodec import zoo
from aecodec.config import FAMILIES
from aecodec.models import MODEL_CLASSES

from conftest import REPO, natural_like, training_modules_after


#: What a wheel is built from (pyproject.toml names the packages); built from a copy, so that setuptools'
#: build/ folder never lands in the checkout, nor a stale file of it in the wheel.
SOURCES = ("pyproject.toml", "README.md", "codec", "cli", "benchmarks", "checkpoints")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel pip builds from this checkout (no network: the build backend already installed is used)."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "results"))
        else:
            shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(source)], check=True, capture_output=True, timeout=600)  # fmt: skip
    (path,) = out.glob("aecodec-*.whl")
    return path


def test_the_wheel_holds_only_the_aecodec_namespace_and_its_checkpoints(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"aecodec"}, sorted(tops)
    assert len(dist_info) == 1
    for package in ("aecodec/__init__.py", "aecodec/cli/main.py", "aecodec/models/__init__.py",
                    "aecodec/training/train.py", "aecodec/benchmarks/harness.py", "aecodec/checkpoints/MANIFEST.json"):  # fmt: skip
        assert package in names
    shipped = {e.path.name for e in zoo.entries()}
    assert {n.rsplit("/", 1)[1] for n in names if n.startswith("aecodec/checkpoints/") and n.endswith(".pt")} == shipped
    assert not [n for n in names if "fuzz" in n or "/tests/" in n or n.startswith("tests/")]


def test_an_installed_copy_loads_its_checkpoints_and_round_trips(wheel, tmp_path):
    """Installed with pip (not editable) into a folder of its own, run from outside the repository: the CLI
    encodes and decodes a photo with the shipped default model, and `import codec` finds nothing."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=600)  # fmt: skip
    from PIL import Image

    Image.fromarray(natural_like(96, 64), "RGB").save(tmp_path / "photo.png")
    code = textwrap.dedent(
        f"""
        import importlib.util, sys
        import aecodec, aecodec.zoo
        assert aecodec.__file__.startswith({str(target)!r}), aecodec.__file__
        assert str(aecodec.zoo.checkpoint_dir()).startswith({str(target)!r})
        assert importlib.util.find_spec("codec") is None and importlib.util.find_spec("cli") is None
        from aecodec.cli.main import main
        for args in (["encode", "photo.png"], ["decode", "photo.aec", "-o", "back.png"]):
            try:
                main(args)
            except SystemExit as exc:
                assert not exc.code, exc.code
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "AECODEC_CHECKPOINTS"}
    env["PYTHONPATH"] = str(target)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stdout + result.stderr[-3000:]
    assert Image.open(tmp_path / "back.png").size == (96, 64)


def test_encode_imports_no_training_code(use_tiny_zoo, tmp_path):
    """`aecodec encode` (and decode) run the runtime only: no module of aecodec.training is imported."""
    from PIL import Image

    Image.fromarray(natural_like(40, 30), "RGB").save(tmp_path / "a.png")
    commands = [["encode", "a.png", "-q", "1"], ["decode", "a.aec", "-o", "b.png"]]
    assert training_modules_after(commands, tmp_path, use_tiny_zoo) == []


def test_every_family_of_the_config_has_a_model_class():
    assert tuple(MODEL_CLASSES) == FAMILIES


def test_every_module_imports_and_every_script_compiles(tmp_path):
    """A module no test imports (a benchmark, a tool) still has to load: a rename that breaks one shows here."""
    import importlib
    import pkgutil
    import py_compile

    # the mapped subpackages one by one: an editable install's finder does not list them under aecodec
    packages = [importlib.import_module(f"aecodec{sub}") for sub in ("", ".cli", ".benchmarks")]
    names = sorted({m.name for pkg in packages for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")})
    assert "aecodec.benchmarks.train_speed" in names and "aecodec.training.train" in names
    for name in names:
        importlib.import_module(name)
    for folder in ("scripts", "tools", "experiments"):
        for script in (REPO / folder).rglob("*.py"):
            py_compile.compile(str(script), doraise=True, cfile=str(tmp_path / "script.pyc"))


def _run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_coding_imports_only_the_parts_of_compressai_it_needs_and_the_rest_stays_reachable():
    out = _run_python("""
        import sys
        import numpy as np
        from aecodec import load_codec
        codec = load_codec("hyperprior", 1)
        pixels = np.full((32, 48, 3), 120, np.uint8)
        assert np.asarray(codec.decompress(codec.compress(pixels))).shape == (32, 48, 3)
        print("torch_geometric" in sys.modules, "compressai.datasets" in sys.modules)
        import compressai
        from compressai.models import ScaleHyperprior
        from compressai.latent_codecs import *
        from aecodec import _compressai
        assert compressai.models.base.CompressionModel is _compressai.CompressionModel
        assert "HyperpriorLatentCodec" in dir(compressai.latent_codecs) and HyperpriorLatentCodec
        print(compressai.datasets.ImageFolder.__name__, compressai.get_entropy_coder(), compressai.__version__)
        print(hasattr(compressai, "no_such_thing"))
    """)
    assert out.split() == ["False", "False", "ImageFolder", "ans", "1.2.8", "False"]


def test_a_process_that_imported_compressai_first_keeps_its_package():
    out = _run_python("""
        import compressai
        from compressai.entropy_models import EntropyBottleneck
        from aecodec import _compressai
        print(type(compressai).__name__, _compressai.EntropyBottleneck is EntropyBottleneck)
    """)
    assert out.split() == ["module", "True"]
