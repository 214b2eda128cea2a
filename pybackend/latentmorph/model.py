"""ONNX Runtime sessions of an encoder/decoder pair, validated against the model contract.

The contract is written by ``export/latentmorph_train/onnx_export.py`` into each file's
``metadata_props``: ``contract_version``, ``role``, ``model_id``, ``sample_rate`` (Hz),
``hop_length`` (samples per latent frame) and ``latent_dim``.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

CONTRACT_VERSION = 1
_REQUIRED_KEYS = ("contract_version", "role", "model_id", "sample_rate", "hop_length", "latent_dim")


class ModelError(Exception):
    """The model files are missing, unreadable or break the contract."""


def default_model_dir() -> Path:
    """The shipped model (package data), or ``$LATENTMORPH_MODEL_DIR`` when set."""
    override = os.environ.get("LATENTMORPH_MODEL_DIR")
    if override:
        return Path(override)
    return Path(str(resources.files("latentmorph") / "models"))


def _providers() -> list[str]:
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class MorphModel:
    """An encoder and a decoder session sharing one contract.

    Attributes: ``model_id`` (str), ``sample_rate`` (Hz), ``hop_length`` (samples per latent
    frame), ``latent_dim`` (int), ``providers`` (the execution providers in use).
    """

    def __init__(self, encoder: ort.InferenceSession, decoder: ort.InferenceSession, meta: dict[str, str]):
        self._encoder, self._decoder = encoder, decoder
        self.model_id = meta["model_id"]
        self.sample_rate = int(meta["sample_rate"])
        self.hop_length = int(meta["hop_length"])
        self.latent_dim = int(meta["latent_dim"])
        self.providers = encoder.get_providers()

    @classmethod
    def load(cls, model_dir: str | Path | None = None, intra_op_threads: int = 0) -> "MorphModel":
        """Open ``encoder.onnx`` and ``decoder.onnx`` in ``model_dir`` (default: the shipped model).

        Raises:
            ModelError: a file is missing or unreadable, a metadata key is missing, the contract
                version is not ``CONTRACT_VERSION``, roles are wrong, or the two files disagree on
                model id, sample rate, hop length or latent dimension.
        """
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = intra_op_threads
        sessions, metas = {}, {}
        for role in ("encoder", "decoder"):
            path = model_dir / f"{role}.onnx"
            if not path.is_file():
                raise ModelError(f"model file not found: {path}")
            try:
                session = ort.InferenceSession(str(path), options, providers=_providers())
            except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
                raise ModelError(f"cannot load {path}: {error}") from error
            meta = session.get_modelmeta().custom_metadata_map
            missing = [k for k in _REQUIRED_KEYS if k not in meta]
            if missing:
                raise ModelError(f"{path}: metadata lacks {missing} (not a LatentMorph model?)")
            if meta["contract_version"] != str(CONTRACT_VERSION):
                raise ModelError(f"{path}: contract version {meta['contract_version']}, this runtime "
                                 f"reads version {CONTRACT_VERSION}")
            if meta["role"] != role:
                raise ModelError(f"{path}: role is '{meta['role']}', expected '{role}'")
            sessions[role], metas[role] = session, meta
        for key in ("model_id", "sample_rate", "hop_length", "latent_dim"):
            if metas["encoder"][key] != metas["decoder"][key]:
                raise ModelError(f"{model_dir}: encoder and decoder disagree on {key} "
                                 f"({metas['encoder'][key]} vs {metas['decoder'][key]})")
        return cls(sessions["encoder"], sessions["decoder"], metas["encoder"])

    def pad_length(self, num_samples: int) -> int:
        """Smallest multiple of ``hop_length`` ≥ ``num_samples`` (and ≥ one frame)."""
        return max(1, -(-num_samples // self.hop_length)) * self.hop_length

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """``audio [batch, samples]`` float32 at ``sample_rate`` → latent mean
        ``[batch, ceil(samples / hop_length), latent_dim]``; audio is zero-padded to whole frames."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2:
            raise ValueError(f"audio must be [batch, samples], got shape {audio.shape}")
        padded = np.zeros((audio.shape[0], self.pad_length(audio.shape[1])), dtype=np.float32)
        padded[:, : audio.shape[1]] = audio
        z_mean, _ = self._encoder.run(None, {"audio": padded})
        return z_mean

    def decode(self, z: np.ndarray) -> np.ndarray:
        """``z [batch, frames, latent_dim]`` float32 → ``audio [batch, frames * hop_length]``."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 3 or z.shape[2] != self.latent_dim:
            raise ValueError(f"z must be [batch, frames, {self.latent_dim}], got shape {z.shape}")
        return self._decoder.run(None, {"z": z})[0]


@functools.lru_cache(maxsize=4)
def get_model(model_dir: str | None = None) -> MorphModel:
    """Process-wide cache of loaded models (one session pair per model dir)."""
    return MorphModel.load(model_dir)
