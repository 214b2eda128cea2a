"""LatentMorph runtime: audio I/O, ONNX inference, latent morphing, CLI and plugin backend.

Runs without torch; see ``export/`` for training and ONNX export.
"""

__version__ = "0.1.0"
