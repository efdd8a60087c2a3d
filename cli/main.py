"""The ``aecodec`` command group.

Sub-commands live in their own modules and are imported only when invoked, so ``aecodec --help`` answers
without loading torch.
"""

from __future__ import annotations

import importlib

import click

# name -> (module, function, one-line help shown by `aecodec --help` without importing the module)
COMMANDS = {
    "encode": ("aecodec.cli.encode", "encode", "Compress images into .aec files."),
    "decode": ("aecodec.cli.decode", "decode", "Decompress .aec files into images."),
    "bench": ("aecodec.cli.bench", "bench", "Rate-distortion curves against JPEG, WebP, AVIF, JPEG XL, JPEG 2000."),
    "info": ("aecodec.cli.info", "info", "Show the header of .aec files."),
    "models": ("aecodec.cli.models", "models", "List the shipped models and quality levels."),
    "train": ("aecodec.cli.train", "train", "Train a model on a folder of photos."),
    "adapt": ("aecodec.cli.adapt", "adapt", "Teach the variable-rate model a folder's kind of images (an adapter)."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aecodec")
def main() -> None:
    """aecodec: a learned image codec.

    \b
      aecodec encode photo.png            # writes photo.aec
      aecodec decode photo.aec            # writes photo.png
      aecodec encode *.png --out-dir out -q 3
      aecodec info photo.aec
    """


if __name__ == "__main__":
    main()
