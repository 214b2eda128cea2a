"""Training losses: multi-resolution STFT distance, the decoder head's spectral and phase terms,
and the Gaussian KL divergence."""

from __future__ import annotations

import torch

from .features import STFTMagnitude, wrap_phase

FFT_SIZES = (2048, 1024, 512, 256, 128)


def _magnitude(x: torch.Tensor, n_fft: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=n_fft // 4, window=window, return_complex=True)
    return spec.abs().clamp(min=1e-7)


def multi_resolution_stft_loss(
    pred: torch.Tensor, target: torch.Tensor, fft_sizes: tuple[int, ...] = FFT_SIZES
) -> torch.Tensor:
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


#: Floor added to target magnitudes before the log (STFTMagnitude units: a full-scale sine gives ≈ 256).
LOG_MAGNITUDE_FLOOR = 1e-5


def head_losses(
    magnitude: torch.Tensor, increment: torch.Tensor, sigma: torch.Tensor, target: torch.Tensor, stft: STFTMagnitude
) -> tuple[torch.Tensor, torch.Tensor]:
    """Direct losses on :class:`~latentmorph_train.features.IntegratedPhaseHead` outputs against the
    target's STFT at the head's own framing (``stft``).

    * magnitude: mean ``|log(M̂ + ε) − log(|X| + ε)|`` (APNet's amplitude loss, Ai & Ling 2023, as L1);
    * phase: the negative log-likelihood of the target's instantaneous frequency
      ``wrap(∠X_m − ∠X_{m−1})`` under ``N(increment_m, σ_m²)`` on the anti-wrapped difference,
      plus ``1 − cos`` of the start phase at frame 0, weighted per bin and frame by ``|X|`` (mean 1
      per clip): a partial's frequency must be right, a silent bin's phase does not matter, and in
      a noisy bin the likelihood is best with a wide ``σ`` (its phase advance is then drawn).

    ``magnitude``, ``increment``, ``sigma``: ``[batch, bins, frames]``; ``target``: audio
    ``[batch, samples]``. Returns ``(magnitude_loss, phase_loss)`` scalars.
    """
    real, imag = stft.complex(target)
    target_mag = torch.sqrt(real * real + imag * imag + 1e-12)
    magnitude_loss = (
        (torch.log(magnitude + LOG_MAGNITUDE_FLOOR) - torch.log(target_mag + LOG_MAGNITUDE_FLOOR)).abs().mean()
    )
    phase = torch.atan2(imag, real)
    target_increment = torch.cat([phase[..., :1], wrap_phase(phase[..., 1:] - phase[..., :-1])], dim=-1)
    error = wrap_phase(target_increment - increment)
    weight = target_mag / target_mag.mean(dim=(1, 2), keepdim=True).clamp(min=1e-6)
    safe_sigma = sigma[..., 1:]
    nll = 0.5 * (error[..., 1:] / safe_sigma) ** 2 + torch.log(safe_sigma)
    start = 1.0 - torch.cos(error[..., :1])
    phase_loss = (weight[..., 1:] * nll).mean() + (weight[..., :1] * start).mean()
    return magnitude_loss, phase_loss
