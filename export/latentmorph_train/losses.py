"""Training losses: multi-resolution STFT distance and the Gaussian KL divergence."""

from __future__ import annotations

import torch

FFT_SIZES = (2048, 1024, 512, 256, 128)


def _magnitude(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=n_fft // 4, window=window, return_complex=True)
    return spec.abs().clamp(min=1e-7)


def multi_resolution_stft_loss(pred: torch.Tensor, target: torch.Tensor,
                               fft_sizes: tuple[int, ...] = FFT_SIZES) -> torch.Tensor:
    """Mean over FFT sizes of spectral convergence ``‖|Y|−|X|‖_F / ‖|X|‖_F`` plus mean
    ``|log|Y| − log|X||`` (Yamamoto et al. 2020, Parallel WaveGAN, eq. 3–5); Hann, hop n/4.
    ``pred``/``target``: ``[batch, samples]`` float32. Returns a scalar tensor."""
    total = pred.new_zeros(())
    for n_fft in fft_sizes:
        p, t = _magnitude(pred, n_fft), _magnitude(target, n_fft)
        sc = torch.linalg.norm(p - t, dim=(1, 2)) / torch.linalg.norm(t, dim=(1, 2)).clamp(min=1e-5)
        log_l1 = (torch.log(p) - torch.log(t)).abs().mean(dim=(1, 2))
        total = total + (sc + log_l1).mean()
    return total / len(fft_sizes)


def kl_divergence(z_mean: torch.Tensor, z_logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) ‖ N(0, I)), summed over latent dims, averaged over frames and batch (nats)."""
    kl = 0.5 * (z_mean.pow(2) + z_logvar.exp() - 1.0 - z_logvar)
    return kl.sum(dim=-1).mean()
