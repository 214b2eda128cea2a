"""The variational autoencoder: encoder + reparameterisation + decoder."""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .decoder import Decoder
from .encoder import Encoder


class LatentMorphVAE(nn.Module):
    """VAE over mono audio with a time-varying latent ``[frames, latent_dim]``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``audio [batch, samples]`` → ``(reconstruction [batch, samples], z_mean, z_logvar)``;
        ``z`` is sampled with the reparameterisation trick in training mode, the mean otherwise."""
        z, z_mean, z_logvar = self.encode(audio)
        return self.decoder(z), z_mean, z_logvar

    def encode(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``audio [batch, samples]`` → ``(z, z_mean, z_logvar)``, each ``[batch, frames,
        latent_dim]``: ``z`` drawn by the reparameterisation trick in training mode, the mean
        otherwise."""
        z_mean, z_logvar = self.encoder(audio)
        z = z_mean
        if self.training:
            z = z_mean + torch.randn_like(z_mean) * torch.exp(0.5 * z_logvar)
        return z, z_mean, z_logvar
