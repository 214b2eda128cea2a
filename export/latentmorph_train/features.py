"""Feature extractor and inverse-STFT head as fixed convolutions.

The STFT and its inverse are written as ``conv1d`` / ``conv_transpose1d`` with constant DFT bases
so that they export to every ONNX opset and run in ONNX Runtime without complex tensors
(``torch.istft`` has no ONNX export). Framing: ``(n_fft - hop_length) / 2`` samples of padding on
each side give exactly ``num_samples / hop_length`` frames, frame ``m`` centred on sample
``m * hop_length + hop_length / 2``; the inverse trims the same padding, so ``istft(stft(x))`` has
the length of ``x`` (a multiple of ``hop_length``).
"""

from __future__ import annotations

import math

import librosa
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _dft_basis(n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """cos/sin bases, each ``[n_fft // 2 + 1, n_fft]`` float64."""
    k = np.arange(n_fft // 2 + 1)[:, None]
    n = np.arange(n_fft)[None, :]
    angle = 2.0 * math.pi * k * n / n_fft
    return np.cos(angle), np.sin(angle)


def _hann(n_fft: int) -> np.ndarray:
    return np.hanning(n_fft + 1)[:-1]  # periodic Hann, as torch.hann_window


class STFTMagnitude(nn.Module):
    """``[batch, samples]`` float32 → magnitude ``[batch, n_fft//2+1, samples // hop_length]``."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        cos, sin = _dft_basis(n_fft)
        window = _hann(n_fft)[None, :]
        weight = np.concatenate([cos * window, -sin * window])[:, None, :]
        self.register_buffer("weight", torch.tensor(weight, dtype=torch.float32), persistent=False)

    def complex(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary parts, each ``[batch, n_fft//2+1, frames]``."""
        pad = (self.n_fft - self.hop_length) // 2
        x = F.pad(audio[:, None, :], (pad, pad))
        spec = F.conv1d(x, self.weight, stride=self.hop_length)
        real, imag = spec.chunk(2, dim=1)
        return real, imag

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        real, imag = self.complex(audio)
        return torch.sqrt(real * real + imag * imag + 1e-12)


class LogMel(nn.Module):
    """``[batch, samples]`` → log-mel ``[batch, n_mels, samples // hop_length]`` (natural log)."""

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int):
        super().__init__()
        self.stft = STFTMagnitude(n_fft, hop_length)
        mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=20.0)
        self.register_buffer("mel", torch.tensor(mel, dtype=torch.float32), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        mag = self.stft(audio)
        return torch.log(torch.matmul(self.mel, mag) + 1e-5)


class ISTFTHead(nn.Module):
    """Predicts magnitude and phase per frame and overlap-adds the inverse DFT (Vocos' head).

    Input ``[batch, channels, frames]``; output ``[batch, frames * hop_length]`` float32.
    Weighted overlap-add: ``x[n] = Σ_m w[n - mH] y_m[n - mH] / Σ_m w²[n - mH]`` with ``y_m`` the
    inverse real DFT of frame ``m`` (Griffin & Lim 1984, eq. 6). Design after Siuzdak, "Vocos",
    2023: magnitude = exp(log-magnitude) clipped, phase as an unconstrained angle.
    """

    def __init__(self, channels: int, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        n_bins = n_fft // 2 + 1
        self.proj = nn.Linear(channels, 2 * n_bins)
        cos, sin = _dft_basis(n_fft)
        scale = np.full((n_bins, 1), 2.0 / n_fft)
        scale[0] = scale[-1] = 1.0 / n_fft
        window = _hann(n_fft)[None, :]
        weight = np.concatenate([cos * scale * window, -sin * scale * window])[:, None, :]
        self.register_buffer("weight", torch.tensor(weight, dtype=torch.float32), persistent=False)
        self.register_buffer(
            "window_sq", torch.tensor(_hann(n_fft) ** 2, dtype=torch.float32)[None, None, :],
            persistent=False,
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.istft(*self.spectrum(h))

    def spectrum(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted STFT: real and imaginary parts, each ``[batch, n_fft//2+1, frames]``."""
        x = self.proj(h.transpose(1, 2)).transpose(1, 2)
        log_mag, phase = x.chunk(2, dim=1)
        mag = torch.exp(log_mag).clamp(max=1e3)
        return mag * torch.cos(phase), mag * torch.sin(phase)

    def istft(self, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
        """Spectrum ``[batch, n_fft//2+1, frames]`` (real and imaginary parts, the convention of
        :class:`STFTMagnitude`) → ``[batch, frames * hop_length]``."""
        frames = F.conv_transpose1d(torch.cat([real, imag], dim=1), self.weight, stride=self.hop_length)
        ones = torch.ones_like(real[:, :1, :])
        envelope = F.conv_transpose1d(ones, self.window_sq, stride=self.hop_length)
        pad = (self.n_fft - self.hop_length) // 2
        out = frames / envelope.clamp(min=1e-3)
        return out[:, 0, pad:-pad]
