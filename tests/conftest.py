"""Shared fixtures: a tiny seeded model zoo (fast, real entropy coding) and sample images."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aecodec.training.export import export_final
from aecodec.config import preset
from aecodec.models import build_model
from aecodec.zoo import VARIABLE_RATE_MODEL_ID

REPO = Path(__file__).resolve().parent.parent
KODAK = REPO.parent / "shared" / "data" / "kodak"
TRAIN = REPO.parent / "shared" / "data" / "train"


def make_zoo(folder: Path, qualities=(1, 2), model_id: str = "factorized", preset_name: str = "tiny",
             perturb: float = 0.0) -> Path:  # fmt: skip
    """Write a MANIFEST and tiny seeded checkpoints (real weights and entropy tables, just small).

    ``perturb`` adds that much Gaussian noise to the weights, so that an untrained model behaves less
    linearly (a hyperprior then spreads its scales over several CDFs).
    """
    folder.mkdir(parents=True, exist_ok=True)
    table = {}
    for q in qualities:
        torch.manual_seed(q)
        model = build_model(preset(preset_name))
        with torch.no_grad():
            for name, p in model.named_parameters():
                if perturb and not name.endswith("quantiles"):
                    p.add_(perturb * torch.randn_like(p))
        name = f"tiny-q{q}.pt" if model_id == "factorized" else f"tiny-{model_id}-q{q}.pt"
        info = export_final(model, folder / name, {"lambda": 0.01 * q, "steps": 0})
        table[str(q)] = {"file": name, "sha256": info["sha256"], "config": model.config.to_dict(), "lambda": 0.01 * q}
    manifest_path = folder / "MANIFEST.json"  # a second family joins the first one's MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"format": 1, "models": {}}
    manifest["models"][model_id] = {"qualities": table}
    manifest_path.write_text(json.dumps(manifest))
    return folder


def make_vr_zoo(folder: Path, model_id: str = "tiny-vr1", alias: str = "tiny-vr") -> Path:
    """A tiny seeded variable-rate model (perturbed, so its scales spread over the tables) under an alias as
    shipped models are (``tiny-vr`` -> ``tiny-vr1``), added to the folder's MANIFEST or a new one."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(5)
    model = build_model(preset("variable-rate-tiny"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith("quantiles"):
                p.add_(0.1 * torch.randn_like(p))
    info = export_final(model, folder / f"{model_id}.pt", {"steps": 0})
    entry = {"file": f"{model_id}.pt", "sha256": info["sha256"], "config": model.config.to_dict()}
    manifest_path = folder / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"format": 1, "models": {}}
    manifest["models"][model_id] = {"variable_rate": entry}
    manifest.setdefault("aliases", {})[alias] = model_id
    manifest_path.write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory) -> Path:
    """The shipped zoo's kinds of model in tiny: the hyperprior and factorized ladders (qualities 1 and 2) and
    the variable-rate model under the shipped alias, so the CLI's defaults find a model whichever is default."""
    zoo = make_zoo(tmp_path_factory.mktemp("zoo"))
    zoo = make_zoo(zoo, model_id="hyperprior", preset_name="hyperprior-tiny", perturb=0.1)
    return make_vr_zoo(zoo, f"{VARIABLE_RATE_MODEL_ID}1", VARIABLE_RATE_MODEL_ID)


@pytest.fixture
def use_tiny_zoo(tiny_zoo, monkeypatch) -> Path:
    """Point the default checkpoint folder (used by the CLI) at the tiny zoo."""
    monkeypatch.setenv("AECODEC_CHECKPOINTS", str(tiny_zoo))
    return tiny_zoo


def natural_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth colour image with some texture: gradients plus noise, H x W x 3 uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([xx / max(width, 1), yy / max(height, 1), (xx + yy) / max(width + height, 1)], axis=2)
    image = 200 * base + 20 * rng.standard_normal((height, width, 3))
    return np.clip(image + 20, 0, 255).astype(np.uint8)


@pytest.fixture
def rgb_image() -> Image.Image:
    return Image.fromarray(natural_like(37, 23), "RGB")


@pytest.fixture
def run(use_tiny_zoo):
    """Invoke the `aecodec` CLI in-process against the tiny zoo: run("encode", path, ...) -> click Result."""
    from click.testing import CliRunner

    from aecodec.cli.main import main

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def write_photos(folder: Path, count: int, width: int, height: int) -> Path:
    """``count`` synthetic photos p0.png, p1.png, ... of ``width`` x ``height`` in ``folder``."""
    for i in range(count):
        Image.fromarray(natural_like(width, height, seed=i), "RGB").save(folder / f"p{i}.png")
    return folder


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """A training folder of six small synthetic photos (72 x 64)."""
    return write_photos(tmp_path_factory.mktemp("photos"), 6, 72, 64)


def training_modules_after(commands: list[list[str]], cwd: Path, checkpoints: Path) -> list[str]:
    """Run `aecodec` commands in a fresh process (each must succeed) and return the aecodec.training modules it
    imported: coding must import none."""
    import os
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import sys
        from aecodec.cli.main import main
        for args in {commands!r}:
            try:
                main(args)
            except SystemExit as exc:
                assert not exc.code, exc.code
        print(sorted(m for m in sys.modules if m.startswith("aecodec.training")))
        """
    )
    env = {**os.environ, "AECODEC_CHECKPOINTS": str(checkpoints)}
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1].replace("'", '"'))


def read_log(path) -> list[dict]:
    """The rows of a training run's log.csv."""
    with open(path) as f:
        return list(csv.DictReader(f))

