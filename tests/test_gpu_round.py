"""The GPU round's recipe, run on the CPU: packing the training photos (aecodec.training.pack), training on a
pack with --val-dir, and tools/gpu/round.sh itself with a tiny model and a few steps."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from aecodec.training.data import split_files
from aecodec.training.pack import pack_training_data
from conftest import write_photos

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_photos(tmp_path_factory.mktemp("photos"), 30, 150, 130)  # validation crops of 128


def test_a_pack_keeps_the_split_and_the_budget(photos, tmp_path):
    train, val = split_files(sorted(photos.glob("*.png")), 0.05)
    whole = pack_training_data(photos, tmp_path / "all", 10**7)
    assert whole["train"] == len(train) and whole["val"] == len(val) > 0
    assert sorted(p.stem for p in (tmp_path / "all" / "val").iterdir()) == sorted(p.stem for p in val)
    for crop in (tmp_path / "all" / "val").iterdir():
        assert Image.open(crop).size == (128, 128)  # the centre crops a CPU round validates on
    budget = whole["bytes"] // 2
    half = pack_training_data(photos, tmp_path / "half", budget)
    files = list((tmp_path / "half").rglob("*.jpg"))
    assert half["bytes"] == sum(f.stat().st_size for f in files) <= budget
    assert 0 < half["train"] < len(train)
    assert {f"{p.stem}.png" for p in (tmp_path / "half" / "train").iterdir()} <= {p.name for p in train}
    assert json.loads((tmp_path / "half" / "PACK.json").read_text()) == half


def test_a_pack_refuses_a_full_folder_and_leaves_nothing_half_written(photos, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        pack_training_data(photos, tmp_path / "full", 10**7)
    with pytest.raises(ValueError, match="validation crops alone"):
        pack_training_data(photos, tmp_path / "tiny", 100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]


def test_the_gpu_round_script_trains_on_a_pack_and_leaves_what_comes_back(photos, tmp_path):
    pack_training_data(photos, tmp_path / "pack", 10**7)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OUT": str(out), "DATA": str(tmp_path / "pack"), "PYTHON": sys.executable,
           "DEVICE": "cpu", "INIT": "", "BATCH": "8", "VAL_EVERY": "2", "MINUTES": "2",
           "EXTRA_ARGS": "--preset variable-rate-tiny --steps 3 --crop-size 64"}  # fmt: skip
    result = subprocess.run(["bash", "tools/gpu/round.sh"], cwd=REPO, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "log.csv", "round.txt"]
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [r["step"] for r in rows if r["split"] == "val"] == ["0", "2", "3"]
    summary = (out / "round.txt").read_text()
    assert "GPU none" in summary and "3 steps in" in summary and "best" in summary
