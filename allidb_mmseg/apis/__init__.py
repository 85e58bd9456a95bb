"""Inference API: load a trained model and segment smears."""
