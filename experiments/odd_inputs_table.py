"""Print a markdown table of what the real ``aecodec`` command does with each odd input.

Each input of tests/odd_inputs.py (tiny and one-pixel-wide images, 16-bit gray, alpha, CMYK, palettes, an
EXIF-rotated JPEG, an animated GIF, truncated files, text, an empty file, a directory) goes through
``python -m aecodec.cli.main encode`` and, when that worked, ``decode``, each in its own process::

    .venv/bin/python experiments/odd_inputs_table.py            # the shipped models
    .venv/bin/python experiments/odd_inputs_table.py --tiny     # a tiny seeded zoo, like the tests (faster)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the shared odd inputs and the tiny zoo of the test suite


def aecodec(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aecodec.cli.main", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def summary(result: subprocess.CompletedProcess) -> str:
    """Exit status and what the command said: its report (after the arrow) and any stderr line."""
    said = [line.split(": ", 1)[1] if " -> " in line else line for line in result.stdout.splitlines()]
    said += result.stderr.strip().splitlines()
    text = "; ".join(s.strip() for s in said if s.strip()).replace("|", "\\|")
    return f"exit {result.returncode}: {text}" if text else f"exit {result.returncode}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="use a tiny seeded model zoo instead of the shipped one")
    parser.add_argument("-q", "--quality", type=int, default=1)
    args = parser.parse_args()

    from odd_inputs import CASES, build

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        if args.tiny:
            from conftest import make_zoo

            env["AECODEC_CHECKPOINTS"] = str(make_zoo(work / "zoo"))
            args.quality = min(args.quality, 2)
        print("| input | `aecodec encode` | `aecodec decode` of the result |")
        print("|---|---|---|")
        for i, name in enumerate(CASES):
            case = work / f"case{i}"
            case.mkdir()
            src = build(name, case).relative_to(case)
            encoded = aecodec(["encode", str(src), "-o", "out.aec", "-q", str(args.quality)], case, env)
            decoded = "-"
            if encoded.returncode == 0:
                decoded = summary(aecodec(["decode", "out.aec", "-o", "back.png"], case, env))
            print(f"| {name} | {summary(encoded)} | {decoded} |", flush=True)


if __name__ == "__main__":
    main()
