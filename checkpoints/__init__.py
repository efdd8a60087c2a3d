"""Shipped model weights of aecodec (installed as ``aecodec.checkpoints``); see MANIFEST.json."""
