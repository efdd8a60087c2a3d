"""Reuse committed per-image rows of unchanged aecodec models as cache entries, so they are not measured again.

The measurement cache lives outside the repository, so a fresh machine measures everything again (the
"-refined" codecs take over an hour on Kodak). A row of a committed ``per_image.csv`` is a real measurement
of one checkpoint file: where the checkpoint the row was measured with (its sha256 in the MANIFEST of the
commit that wrote the CSV) is the one shipped now, the row is stored under the key ``aecodec bench`` would
use. Rows of changed models are left out, so the next run measures them. Seeded rows keep their earlier
timings.
"""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from aecodec import zoo

from .codecs import make_codec
from .datasets import BenchImage
from .harness import ROW_FIELDS, ResultCache

TEXT_FIELDS = ("codec", "image")
INT_FIELDS = ("quality", "width", "height", "bytes")


def family_of(codec_name: str) -> str:
    """The model family an aecodec codec name codes with: aecodec-hyperprior-refined -> hyperprior."""
    if codec_name == "aecodec":
        return zoo.DEFAULT_MODEL_ID
    return codec_name.removeprefix("aecodec-").removesuffix("-refined")


def _typed(row: dict) -> dict:
    return {key: row[key] if key in TEXT_FIELDS else (int if key in INT_FIELDS else float)(row[key])
            for key in ROW_FIELDS}  # fmt: skip


def seed_cache(
    rows_csv: str | Path,
    measured_manifest: dict,
    images: list[BenchImage],
    codec_names: set[str],
    cache_dir: str | Path,
    checkpoint_dir: str | Path | None = None,
) -> tuple[int, set[tuple[str, int]]]:
    """Store the rows of ``codec_names`` whose checkpoint is unchanged; (rows stored, (codec, quality) changed).

    ``measured_manifest`` is the MANIFEST the rows were measured with; ``checkpoint_dir`` holds today's.
    Only rows of ``images`` (matched by name, keyed by today's pixels) are stored.
    """
    by_name = {image.name: image for image in images}
    cache = ResultCache(cache_dir)
    seeded, changed = 0, set()
    with Path(rows_csv).open(newline="") as f:
        for row in csv.DictReader(f):
            if row["codec"] not in codec_names or row["image"] not in by_name:
                continue
            quality = int(row["quality"])
            then = measured_manifest["models"].get(family_of(row["codec"]), {}).get("qualities", {})
            now = zoo.lookup(family_of(row["codec"]), quality, checkpoint_dir).sha256
            if then.get(str(quality), {}).get("sha256") != now:
                changed.add((row["codec"], quality))
                continue
            codec = make_codec(row["codec"], quality, checkpoint_dir=checkpoint_dir)
            cache.put(codec, by_name[row["image"]], _typed(row))
            seeded += 1
    return seeded, changed


def _git(repo: str | Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def measured_manifest_text(rows_csv: str | Path, repo: str | Path, rev: str | None = None) -> str:
    """The MANIFEST that the committed rows in ``rows_csv`` were measured with, as committed beside them.

    Rows are a measurement of the checkpoints of the commit that wrote them: the last commit that changed
    the file. Checkpoints committed *after* it (a retrained model committed before its benchmark) are not
    what the rows measured, so taking the MANIFEST of a later revision would seed stale rows under the new
    model's key. ``rev`` may name another revision only if its MANIFEST is the same as that commit's.
    """
    rows = Path(rows_csv).resolve().relative_to(Path(repo).resolve())
    wrote = _git(repo, "log", "-1", "--format=%H", "--", str(rows)).strip()
    if not wrote:
        raise ValueError(f"{rows} is not committed: give the revision whose benchmark run wrote it")
    if _git(repo, "status", "--porcelain", "--", str(rows)).strip():
        raise ValueError(f"{rows} has uncommitted changes: commit the run that wrote it, or restore it")
    then = _git(repo, "show", f"{wrote}:checkpoints/MANIFEST.json")
    if rev is not None and _git(repo, "show", f"{rev}:checkpoints/MANIFEST.json") != then:
        raise ValueError(
            f"{rows} was last written in {wrote[:12]}, whose checkpoints differ from {rev}'s: "
            f"seeding with {rev}'s MANIFEST would store rows of old models under new ones (leave out the revision)"
        )
    return then
