"""Command-line interface of aecodec (click). The library (``codec``) knows nothing of it."""
