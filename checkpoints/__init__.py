"""Shipped model weights of aecodec (installed as the ``aecodec_checkpoints`` package); see MANIFEST.json."""
