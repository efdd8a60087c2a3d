"""Command-line interface of aecodec (click), installed as ``aecodec.cli``. The library knows nothing of it."""
