"""Decoder: latent sequence → waveform (backbone + inverse-STFT head, no Griffin-Lim)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import stack
from .config import ModelConfig
from .features import IntegratedPhaseHead, ISTFTHead, integrate_phase


class Decoder(nn.Module):
    """``z [batch, frames, latent_dim]`` → ``audio [batch, frames * latent_hop_length]`` float32."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.embed = nn.Conv1d(cfg.latent_dim, c, kernel_size=7, padding=3)
        self.blocks_coarse = stack(c, cfg.decoder_blocks[0])
        if cfg.upsample == "transposed":
            # kernel 2s, stride s, padding s/2 → exactly s× the frames; but even and odd frames get
            # different taps, so a held note comes out modulated at the latent rate (checkerboard)
            self.up = nn.ConvTranspose1d(
                c, c, kernel_size=2 * cfg.latent_stride, stride=cfg.latent_stride, padding=cfg.latent_stride // 2
            )
        else:
            # resize-convolution (Odena et al. 2016, "Deconvolution and checkerboard artifacts"):
            # linear interpolation puts STFT frame 2i+j at latent position i − 1/4 + j/2, exactly where
            # its centre lies, and a constant latent gives identical frames
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=cfg.latent_stride, mode="linear"), nn.Conv1d(c, c, kernel_size=3, padding=1)
            )
        self.blocks_fine = stack(c, cfg.decoder_blocks[1])
        self.norm = nn.LayerNorm(c)
        head = {"absolute": ISTFTHead, "integrated": IntegratedPhaseHead}[cfg.phase]
        self.head = head(c, cfg.n_fft, cfg.hop_length)

    def forward(self, z: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``noise``: the standard normal draws of :func:`integrate_phase` (``phase = "integrated"``
        only; drawn when ``None``)."""
        return self.synthesize(self.spectrum(z), noise)

    def synthesize(self, spectrum: tuple[torch.Tensor, ...], noise: torch.Tensor | None = None) -> torch.Tensor:
        """The head's outputs (:meth:`spectrum`) → audio ``[batch, frames * hop_length]``: the phase
        integrated first for ``phase = "integrated"`` (``noise`` as in :meth:`forward`)."""
        if self.cfg.phase == "integrated":
            spectrum = integrate_phase(*spectrum, noise)
        return self.head.istft(*spectrum)

    def spectrum(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``z`` → the head's outputs, each ``[batch, n_fft//2+1, frames * latent_stride]``: the STFT
        ``(real, imag)`` for ``phase = "absolute"`` (contract 2), ``(magnitude, phase_increment,
        phase_sigma)`` for ``"integrated"`` (contract 3, see :class:`IntegratedPhaseHead`). The ONNX
        decoder ends here and the backend does the rest in NumPy."""
        h = self.blocks_coarse(self.embed(z.transpose(1, 2)))
        h = self.blocks_fine(self.up(h))
        h = self.norm(h.transpose(1, 2)).transpose(1, 2)
        return self.head.spectrum(h)
