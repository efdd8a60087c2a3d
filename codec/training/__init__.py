"""Training aecodec models: ``fit`` (the loop), data, loss, distributed runs, growing a latent, and writing
checkpoints. Nothing here is imported when an image is coded (:mod:`aecodec.api` never imports it)."""
