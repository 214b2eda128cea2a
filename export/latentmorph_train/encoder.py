"""Encoder: audio → time-varying latent posterior (mean, log-variance)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import stack
from .config import ModelConfig
from .features import LogMel


class Encoder(nn.Module):
    """``audio [batch, samples]`` float32 at ``sample_rate`` (``samples`` a multiple of the latent
    hop) → ``(z_mean, z_logvar)``, each ``[batch, samples // latent_hop_length, latent_dim]``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        c = cfg.channels
        self.features = LogMel(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels, cfg.encoder_phase_bins)
        self.embed = nn.Conv1d(cfg.n_mels + 2 * cfg.encoder_phase_bins, c, kernel_size=7, padding=3)
        self.blocks_fine = stack(c, cfg.encoder_blocks[0])
        self.down = nn.Conv1d(
            c, c, kernel_size=2 * cfg.latent_stride, stride=cfg.latent_stride, padding=cfg.latent_stride // 2
        )
        self.blocks_coarse = stack(c, cfg.encoder_blocks[1])
        self.norm = nn.LayerNorm(c)
        self.out = nn.Linear(c, 2 * cfg.latent_dim)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.blocks_fine(self.embed(self.features(audio)))
        h = self.blocks_coarse(self.down(h))
        stats = self.out(self.norm(h.transpose(1, 2)))
        z_mean, z_logvar = stats.chunk(2, dim=-1)
        return z_mean, z_logvar.clamp(-12.0, 6.0)
