"""Rate-distortion measurements of aecodec against classical codecs."""
