"""Audio distances used by tests and evaluation."""

from __future__ import annotations

import librosa
import numpy as np

FFT_SIZES = (2048, 1024, 512, 256, 128)
FLOOR_DB = 80.0


def mrstft_distance(output: np.ndarray, reference: np.ndarray, fft_sizes: tuple[int, ...] = FFT_SIZES) -> float:
    """Multi-resolution STFT distance of ``output`` from ``reference``.

    For each FFT size n (Hann window, hop n/4), with magnitudes ``X`` (reference) and ``Y``
    (output) both floored at ``max|X| · 10^(−80/20)`` (80 dB below the reference's loudest bin,
    so inaudible content cannot dominate):

        d_n = ‖Y − X‖_F / ‖X‖_F  +  mean |log10 Y − log10 X|

    and the distance is the mean of ``d_n`` over sizes (spectral convergence + log-magnitude L1,
    Yamamoto et al. 2020, Parallel WaveGAN). Inputs: mono float ``[samples]`` at one rate; the
    longer is cut to the shorter. Returns a float ≥ 0 (0 for identical signals).
    """
    n = min(len(output), len(reference))
    if n == 0:
        raise ValueError("empty signal")
    out, ref = np.asarray(output[:n], dtype=np.float64), np.asarray(reference[:n], dtype=np.float64)
    total = 0.0
    for n_fft in fft_sizes:
        x = np.abs(librosa.stft(ref, n_fft=n_fft, hop_length=n_fft // 4, window="hann"))
        y = np.abs(librosa.stft(out, n_fft=n_fft, hop_length=n_fft // 4, window="hann"))
        floor = max(float(x.max()), 1e-12) * 10.0 ** (-FLOOR_DB / 20.0)
        x, y = np.maximum(x, floor), np.maximum(y, floor)
        total += np.linalg.norm(y - x) / np.linalg.norm(x) + np.mean(np.abs(np.log10(y) - np.log10(x)))
    return float(total / len(fft_sizes))
