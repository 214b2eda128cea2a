"""Training, data preparation and ONNX export for LatentMorph models (needs the `train` extra)."""
