"""Feature extractor and inverse-STFT heads as fixed convolutions.

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
    """``[batch, samples]`` → log-mel ``[batch, n_mels, samples // hop_length]`` (natural log), and
    with ``phase_bins > 0`` the phase-advance features of the lowest ``phase_bins`` STFT bins
    below it: ``[batch, n_mels + 2 · phase_bins, frames]``.

    Phase advance of bin ``k`` at frame ``m``: ``P = X_m · conj(X_{m−1}) · e^{−i2πkH/N}``, whose angle
    is the deviation of the bin's instantaneous frequency from the bin centre (frame 0: none). The
    features are ``g · P / |P|`` (cosine and sine of that angle) with the gate
    ``g = tanh(|X_m| / (0.05 · max_k |X_m|))``, ≈ 1 for bins within ~26 dB of the frame's loudest
    and → 0 below, so noise-floor bins say nothing. A log-mel alone does not pin a partial's
    frequency down to the ~0.5 Hz a note needs to be in tune (bins are 43 Hz apart); this does,
    and the decoder's phase integration (:class:`IntegratedPhaseHead`) needs exactly that."""

    #: Gate of the phase features: level relative to the frame's loudest bin where g = tanh(1).
    PHASE_GATE_RELATIVE = 0.05

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int, phase_bins: int = 0):
        super().__init__()
        self.phase_bins = phase_bins
        self.stft = STFTMagnitude(n_fft, hop_length)
        mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=20.0)
        self.register_buffer("mel", torch.tensor(mel, dtype=torch.float32), persistent=False)
        advance = 2.0 * math.pi * np.arange(phase_bins) * hop_length / n_fft
        self.register_buffer(
            "advance_cos", torch.tensor(np.cos(advance), dtype=torch.float32)[None, :, None], persistent=False
        )
        self.register_buffer(
            "advance_sin", torch.tensor(np.sin(advance), dtype=torch.float32)[None, :, None], persistent=False
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        real, imag = self.stft.complex(audio)
        mag = torch.sqrt(real * real + imag * imag + 1e-12)
        log_mel = torch.log(torch.matmul(self.mel, mag) + 1e-5)
        if not self.phase_bins:
            return log_mel
        re, im = real[:, : self.phase_bins], imag[:, : self.phase_bins]
        # X_m · conj(X_{m−1}), then rotated back by the bin centre's advance
        p_re = re[..., 1:] * re[..., :-1] + im[..., 1:] * im[..., :-1]
        p_im = im[..., 1:] * re[..., :-1] - re[..., 1:] * im[..., :-1]
        p_re, p_im = (
            p_re * self.advance_cos + p_im * self.advance_sin,
            p_im * self.advance_cos - p_re * self.advance_sin,
        )
        norm = torch.sqrt(p_re * p_re + p_im * p_im + 1e-12)
        peak = mag.amax(dim=1, keepdim=True)
        gate = torch.tanh(mag[:, : self.phase_bins, 1:] / (self.PHASE_GATE_RELATIVE * peak[..., 1:] + 1e-5))
        features = torch.cat([gate * p_re / norm, gate * p_im / norm], dim=1)
        return torch.cat([log_mel, F.pad(features, (1, 0))], dim=1)


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
            "window_sq",
            torch.tensor(_hann(n_fft) ** 2, dtype=torch.float32)[None, None, :],
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


def wrap_phase(angle: torch.Tensor) -> torch.Tensor:
    """Angles mapped to (−π, π] (the anti-wrapping function of Ai & Ling 2023, APNet, eq. 8)."""
    return torch.atan2(torch.sin(angle), torch.cos(angle))


class IntegratedPhaseHead(ISTFTHead):
    """Magnitude and *instantaneous frequency* per bin; the phase is their running sum over frames.

    Why: the decoder is a stack of convolutions, so it is equivariant to shifts of one frame. Fed a
    stationary latent (a held note), it outputs the same frame again and again; with an absolute
    phase per frame (:class:`ISTFTHead`) the audio then repeats every latent hop (512 samples): a
    comb at 44100 / 512 = 86.13 Hz whatever the note. An instantaneous frequency is the same in
    every frame of a stationary partial, so a shift-equivariant network *can* predict it, and its
    running sum advances the phase at the partial's true frequency (Engel et al. 2019, GANSynth:
    log-magnitude + instantaneous frequency, phase by cumulative sum).

    Per frame ``m`` and bin ``k`` the head predicts the log-magnitude, the deviation ``δ`` of the
    phase advance from the bin centre's ``2πkH/N`` and the spread ``σ`` of that advance (noise-like
    bins have no predictable phase: their advance is drawn, ``ε ~ N(0, 1)``), and for frame 0 an
    absolute start phase ``ψ``:

        φ_0 = ψ,   φ_m = φ_{m−1} + wrap(2πkH/N) + δ_m + σ_m ε_m.

    :meth:`spectrum` returns ``(magnitude, phase_increment, phase_sigma)``, each
    ``[batch, n_fft//2+1, frames]`` float32, where ``phase_increment[..., 0] = ψ`` and
    ``phase_sigma[..., 0] = 0``; :func:`integrate_phase` turns them into the complex STFT. The ONNX
    decoder ends at :meth:`spectrum` (contract 3) and ``latentmorph.model`` integrates in NumPy.
    """

    #: Bounds of log σ (σ in radians per frame): 0.0067 rad resolves 0.1 cent at 41 Hz; 3.3 rad is
    #: a uniformly random phase.
    LOG_SIGMA_RANGE = (-5.0, 1.2)

    def __init__(self, channels: int, n_fft: int, hop_length: int):
        super().__init__(channels, n_fft, hop_length)
        n_bins = n_fft // 2 + 1
        self.proj = nn.Linear(channels, 4 * n_bins)  # log-magnitude, ψ, δ, log σ
        advance = 2.0 * math.pi * np.arange(n_bins) * hop_length / n_fft
        advance = np.angle(np.exp(1j * advance))  # wrapped: exact multiples of π/2 for H = N/4
        self.register_buffer("bin_advance", torch.tensor(advance, dtype=torch.float32)[None, :, None], persistent=False)

    def forward(self, h: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.istft(*integrate_phase(*self.spectrum(h), noise))

    def spectrum(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.proj(h.transpose(1, 2)).transpose(1, 2)
        log_mag, start, deviation, log_sigma = x.chunk(4, dim=1)
        magnitude = torch.exp(log_mag).clamp(max=1e3)
        increment = torch.cat([start[..., :1], (self.bin_advance + deviation)[..., 1:]], dim=-1)
        sigma = torch.exp(log_sigma.clamp(*self.LOG_SIGMA_RANGE))
        sigma = torch.cat([torch.zeros_like(sigma[..., :1]), sigma[..., 1:]], dim=-1)
        return magnitude, increment, sigma


def integrate_phase(
    magnitude: torch.Tensor, increment: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``φ = cumsum(increment + σ·noise)`` along frames (in float64, so hours of frames keep their
    precision) → ``(real, imag)`` of ``magnitude · e^{iφ}``. All tensors ``[batch, bins, frames]``;
    ``noise`` standard normal of that shape (or broadcastable), drawn when ``None``. The NumPy twin
    is ``latentmorph.model.integrate_phase``."""
    if noise is None:
        noise = torch.randn_like(increment)
    phase = torch.cumsum((increment + sigma * noise).double(), dim=-1)
    return magnitude * torch.cos(phase).float(), magnitude * torch.sin(phase).float()
