"""Model parts registered in mmseg.registry.MODELS."""
