"""Model and training configuration, read from a TOML file (see ``export/configs``)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, Self


class _FromDict:
    """``from_dict`` for the config dataclasses: the one place a config table is parsed."""

    @classmethod
    def from_dict(cls, table: dict[str, Any]) -> Self:
        """The config of a TOML table, a checkpoint's or an ONNX file's ``model_config`` JSON: lists
        become tuples (TOML and JSON have no tuples), absent keys keep their defaults.

        Raises:
            ValueError: a key that is not a field, or a value the class's checks refuse.
        """
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in table.items()})


@dataclasses.dataclass(frozen=True)
class ModelConfig(_FromDict):
    """Architecture hyper-parameters. Quantities in samples are at ``sample_rate`` (Hz)."""

    sample_rate: int = 44100
    n_fft: int = 1024
    hop_length: int = 256
    latent_stride: int = 2
    n_mels: int = 128
    latent_dim: int = 32
    channels: int = 192
    encoder_blocks: tuple[int, int] = (2, 2)
    decoder_blocks: tuple[int, int] = (2, 4)
    #: Decoder phase: "absolute" per frame (the models up to lm-33b3aba2bfd553cc, which buzz at the
    #: latent frame rate) or "integrated" instantaneous frequency (features.IntegratedPhaseHead).
    phase: str = "absolute"
    #: STFT bins whose phase advance the encoder sees besides the log-mel (features.LogMel); 0 for
    #: the models up to lm-33b3aba2bfd553cc.
    encoder_phase_bins: int = 0
    #: Decoder upsampling from the latent hop to the STFT hop: "transposed" convolution (the models
    #: up to lm-33b3aba2bfd553cc; even and odd frames differ: a checkerboard at the latent rate) or
    #: linear "interpolate" + convolution.
    upsample: str = "transposed"

    def __post_init__(self):
        if self.phase not in ("absolute", "integrated"):
            raise ValueError(f"model.phase must be 'absolute' or 'integrated', got {self.phase!r}")
        if self.upsample not in ("transposed", "interpolate"):
            raise ValueError(f"model.upsample must be 'transposed' or 'interpolate', got {self.upsample!r}")

    @property
    def latent_hop_length(self) -> int:
        """Samples per latent frame (e.g. 256 * 2 = 512, 11.6 ms at 44.1 kHz)."""
        return self.hop_length * self.latent_stride


@dataclasses.dataclass(frozen=True)
class TrainConfig(_FromDict):
    """Optimisation settings."""

    seed: int = 0
    segment_samples: int = 32768
    batch_size: int = 8
    learning_rate: float = 3e-4
    lr_schedule: str = "constant"  # "constant" or "cosine"
    lr_decay_start: int = 0  # cosine: learning_rate until this step ...
    min_learning_rate: float = 3e-5  # ... then half a cosine down to this at max_steps
    max_steps: int = 200000
    kl_beta: float = 1e-3
    kl_warmup_steps: int = 2000
    #: Weights of losses.head_losses (integrated-phase decoders only).
    head_magnitude_weight: float = 0.5
    head_phase_weight: float = 0.1
    checkpoint_every: int = 250
    validate_every: int = 1000
    num_valid_clips: int = 64


def load_config(path: str | Path) -> tuple[ModelConfig, TrainConfig]:
    """Read ``[model]`` and ``[train]`` tables. Raises ``ValueError`` on unknown keys."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    model = ModelConfig.from_dict(data.get("model", {}))
    train = TrainConfig.from_dict(data.get("train", {}))
    if train.segment_samples % model.latent_hop_length:
        raise ValueError("segment_samples must be a multiple of the latent hop length")
    return model, train
