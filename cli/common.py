"""Helpers shared by the commands: output paths, safe writes, pipes, error reporting, progress."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import click

from aecodec.errors import AECodecError
from aecodec.files import atomic_path


#: "-" on the command line: standard input as an input, standard output as ``-o``. A file of that name is
#: reached as ``./-`` (the inputs are kept as the strings typed until :func:`input_paths` tells them apart).
STREAM = "-"


def input_paths(values: tuple[str, ...]) -> list[Path | str]:
    """The command-line inputs: :data:`STREAM` for ``-``, a :class:`Path` for anything else."""
    return [v if v == STREAM else Path(v) for v in values]


def output_paths(
    inputs: list[Path | str], output: str | None, out_dir: Path | None, suffix: str
) -> list[Path | str]:
    """Where each input's result goes: ``-o`` (one input only; ``-o -`` is standard output), ``--out-dir``,
    or beside the input. Standard input has no name to put a result beside, so it needs ``-o``."""
    if output is not None and out_dir is not None:
        raise click.UsageError("use either -o/--output or --out-dir, not both")
    if output is not None and len(inputs) != 1:
        raise click.UsageError("-o/--output takes a single input; use --out-dir for several")
    if STREAM in inputs and (len(inputs) != 1 or output is None):
        raise click.UsageError("standard input (-) must be the only input, with -o FILE or -o - (standard output)")
    if output == STREAM:
        if click.open_file(STREAM, "wb").isatty():
            raise click.UsageError("refusing to write binary data to a terminal; redirect or pipe standard output")
        return [STREAM]
    if output is not None:
        return [Path(output)]
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = [out_dir / (p.stem + suffix) for p in inputs]
    else:
        paths = [p.with_suffix(suffix) for p in inputs]
    seen: dict[Path, Path] = {}
    for src, dst in zip(inputs, paths):
        if dst in seen:
            raise click.UsageError(f"{seen[dst]} and {src} would both be written to {dst}")
        seen[dst] = src
    return paths


def check_writable(src: Path | str, dst: Path | str, force: bool) -> None:
    """Never overwrite the input; never overwrite anything else without --force (standard output is free)."""
    if dst == STREAM:
        return
    if src != STREAM and dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise AECodecError(f"{dst}: refusing to overwrite the input file")
    if dst.exists() and not force:
        raise AECodecError(f"{dst} exists (use --force to overwrite)")


def read_input(src: Path | str) -> bytes:
    """The whole input: a file, or standard input read to its end before anything is written."""
    if src != STREAM:
        return Path(src).read_bytes()
    with click.open_file(STREAM, "rb") as stream:  # click's "-" convention; it leaves stdin open
        return stream.read()


def write_output(dst: Path | str, data: bytes) -> None:
    """Write ``data`` to standard output, or to the file ``dst`` whole or not at all."""
    if dst != STREAM:
        with atomic_output(dst) as tmp:
            tmp.write_bytes(data)
        return
    try:
        with click.open_file(STREAM, "wb") as stream:
            stream.write(data)
            stream.flush()
    except BrokenPipeError:
        # The reader went away (`| head -c 10`): end quietly with a failure status. Python's documented
        # recipe points stdout at devnull, so that the flush at exit does not raise a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


def atomic_output(path: Path):
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds."""
    return atomic_path(path, suffix=".part")


def progress(items, label: str):
    """A progress bar on stderr for several items (hidden for one item or when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=label, unit="img", file=sys.stderr, disable=len(items) < 2 or None, leave=False)


@contextmanager
def step_progress(label: str, enabled: bool = True):
    """Yield an ``on_step(done, total)`` callback that draws a bar over the steps of one long job (shown only
    when stderr is a terminal), or None when not ``enabled``; the bar goes away when the block ends."""
    from tqdm.auto import tqdm

    bars = []

    def on_step(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=label, unit="step", file=sys.stderr, disable=None, leave=False))
        bars[0].update(done - bars[0].n)

    try:
        yield on_step if enabled else None
    finally:
        for bar in bars:
            bar.close()


@contextmanager
def fraction_progress(label: str):
    """Yield an ``on_progress(fraction, step, loss_ratio)`` callback that draws a bar from 0 to 100% (shown
    only when stderr is a terminal) for a job that knows how much of its budget it has spent."""
    from tqdm.auto import tqdm

    bar = tqdm(total=100, desc=label, unit="%", file=sys.stderr, disable=None, leave=False)

    def on_progress(fraction: float, step: int, loss_ratio: float) -> None:
        bar.set_postfix(step=step, loss_vs_base=f"{loss_ratio:.3f}", refresh=False)
        bar.update(int(100 * fraction) - bar.n)

    try:
        yield on_progress
    finally:
        bar.close()


def report(message: str, bar=None, err: bool = False) -> None:
    """A line about a finished item: on stdout, or on stderr (``err``) when stdout carries the data."""
    if bar is not None and not bar.disable:
        bar.write(message, file=sys.stderr if err else sys.stdout)
    else:
        click.echo(message, err=err)


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)


def fail_input(src, message: str, many: bool) -> None:
    """One input's failure; with ``many`` inputs the line names it (unless the message already does)."""
    name = "standard input" if src == STREAM else str(src)
    fail(f"{name}: {message}" if many and name not in message else message)


def finish(failures: int) -> None:
    """Exit non-zero when any input failed (each failure was already reported on one line)."""
    if failures:
        raise SystemExit(1)


def user_errors():
    """The exceptions that are the user's input, reported as one line instead of a traceback."""
    return (AECodecError, OSError)


def existing_files(paths: tuple[Path, ...]) -> None:
    """Raise a one-line error for inputs that do not exist or are directories."""
    for p in paths:
        if p.is_dir():
            raise click.BadParameter(f"{p} is a directory", param_hint="input")
        if not p.exists():
            raise click.BadParameter(f"{p}: no such file", param_hint="input")


class ByteSize(click.ParamType):
    """A size in bytes: 40000, 40KB / 40kB / 40K (1000 bytes each), 1.5MB, 40KiB (1024), 2MiB."""

    name = "size"
    UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "kib": 1024, "mib": 1024**2}

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip()
        number = text.rstrip("KkMmGgIiBb ")
        unit = text[len(number):].strip().lower()  # fmt: skip
        try:
            size = float(number) * self.UNITS[unit]
        except (ValueError, KeyError):
            self.fail(f"{value!r} is not a size (e.g. 40000, 40KB, 1.5MB, 40KiB)", param, ctx)
        if not size > 0:
            self.fail(f"size must be positive, got {value!r}", param, ctx)
        return size



def _use_threads(ctx, param, threads: int) -> int:
    import torch  # the CLI, not the library, sets the process-wide pool: a program embedding aecodec keeps its own

    torch.set_num_threads(threads)
    return threads


#: ``--threads N`` of encode and decode: the CPU threads the transforms run on (torch's intra-op pool).
threads_option = click.option(
    "--threads", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="this machine's CPUs",
    expose_value=False, callback=_use_threads,
    help="CPU threads for the transforms (torch's thread pool); fewer leave cores to other work.",
)  # fmt: skip
