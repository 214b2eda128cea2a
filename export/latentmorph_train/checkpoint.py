"""Training checkpoints: written atomically, read back, and turned into a model.

A checkpoint is a ``torch.save`` dict of ``model`` (state dict), ``optimizer``, ``step``,
``elapsed_s``, ``numpy_rng``, ``torch_rng``, ``model_config`` and ``train_config`` (dicts of
:mod:`.config`) and ``config_path``, written by :func:`latentmorph_train.train.train`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .config import ModelConfig
from .model import LatentMorphVAE

#: File name of a run's checkpoint inside its run folder.
CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(path: Path, **state: Any) -> None:
    """Write ``state`` to ``path`` atomically (temp file + rename), so a killed run never leaves a
    torn checkpoint."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (tensors mapped to CPU).

    Raises:
        FileNotFoundError: no file at ``path``.
    """
    return torch.load(path, map_location="cpu", weights_only=False)


def model_from_checkpoint(path: Path) -> LatentMorphVAE:
    """Rebuild the model of a checkpoint with its weights, in eval mode.

    Raises:
        FileNotFoundError: no file at ``path``. ValueError: its ``model_config`` is not a
            :class:`~.config.ModelConfig`.
    """
    state = load_checkpoint(path)
    model = LatentMorphVAE(ModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval()
