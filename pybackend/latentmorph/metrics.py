"""Audio distances and descriptors used by tests and evaluation (``latentmorph eval``)."""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
import scipy.optimize
import scipy.stats

from . import envelope, pitch

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
    out, ref = _common_length(output, reference)
    return _mrstft_from_magnitudes(_stft_magnitudes(out, fft_sizes), _stft_magnitudes(ref, fft_sizes))


def _stft_magnitudes(audio: np.ndarray, fft_sizes: tuple[int, ...] = FFT_SIZES) -> list[np.ndarray]:
    return [np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=n_fft // 4, window="hann")) for n_fft in fft_sizes]


def _mrstft_from_magnitudes(outputs: list[np.ndarray], references: list[np.ndarray]) -> float:
    """:func:`mrstft_distance` from the magnitudes of both signals at each FFT size."""
    total = 0.0
    for y, x in zip(outputs, references):
        floor = max(float(x.max()), 1e-12) * 10.0 ** (-FLOOR_DB / 20.0)
        x, y = np.maximum(x, floor), np.maximum(y, floor)
        # Frobenius norms as plain sums: np.linalg.norm goes through BLAS threads, slow on a busy machine.
        total += np.sqrt(np.sum(np.square(y - x)) / np.sum(np.square(x))) + np.mean(np.abs(np.log10(y) - np.log10(x)))
    return float(total / len(outputs))


# --- reconstruction -------------------------------------------------------------------------

#: FFT size / hop of the single-resolution measures (log-spectral distance, HF excess, centroid).
N_FFT = 2048
HOP_LENGTH = 512
#: Lower edge of the band whose energy :func:`hf_excess_db` compares, Hz.
HF_CUTOFF_HZ = 12000.0


def _common_length(output: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(output), len(reference))
    if n == 0:
        raise ValueError("empty signal")
    return np.asarray(output[:n], dtype=np.float64), np.asarray(reference[:n], dtype=np.float64)


def _power_spectrogram(audio: np.ndarray, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH) -> np.ndarray:
    # A signal shorter than one frame is zero-padded to one (what librosa does anyway, with a warning).
    audio = np.pad(audio, (0, max(0, n_fft - len(audio))))
    return np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop_length, window="hann")) ** 2


def log_spectral_distance_db(output: np.ndarray, reference: np.ndarray) -> float:
    """Log-spectral distance of ``output`` from ``reference`` in dB.

    With power spectrograms ``P_X`` (reference) and ``P_Y`` (output) (Hann, n_fft 2048, hop 512),
    both floored at ``max P_X · 10^(−80/10)`` (80 dB below the reference's loudest bin):

        LSD = mean over frames of sqrt( mean over bins of (10·log10(P_Y / P_X))² )

    (Gray & Markel 1976; the form used in audio super-resolution, Kuleshov et al. 2017).
    Inputs: mono float ``[samples]`` at one rate; the longer is cut to the shorter. Returns dB ≥ 0
    (0 for identical signals). Raises ``ValueError`` for an empty signal.
    """
    out, ref = _common_length(output, reference)
    p_ref, p_out = _power_spectrogram(ref), _power_spectrogram(out)
    floor = max(float(p_ref.max()), 1e-24) * 10.0 ** (-FLOOR_DB / 10.0)
    log_ratio_db = 10.0 * np.log10(np.maximum(p_out, floor) / np.maximum(p_ref, floor))
    return float(np.mean(np.sqrt(np.mean(log_ratio_db**2, axis=0))))


def hf_excess_db(output: np.ndarray, reference: np.ndarray, sample_rate: int, cutoff_hz: float = HF_CUTOFF_HZ) -> float:
    """High-frequency excess: energy above ``cutoff_hz`` of ``output`` over that of ``reference``, dB.

        HF = 10·log10( max(E_Y, ε) / max(E_X, ε) ),   E = Σ over frames and bins ≥ cutoff of |STFT|²

    (Hann, n_fft 2048, hop 512), with ``ε`` the reference's total energy · 10^(−80/10), so a
    reference without content up there does not give ±∞. Positive: the output adds hiss or
    aliasing; negative: it loses the top octave. Inputs: mono float ``[samples]`` at
    ``sample_rate`` Hz; the longer is cut to the shorter. Raises ``ValueError`` for an empty or
    silent reference, or a cutoff at or above Nyquist.
    """
    if not 0.0 < cutoff_hz < sample_rate / 2:
        raise ValueError(f"cutoff {cutoff_hz} Hz is outside (0, {sample_rate / 2}) Hz")
    out, ref = _common_length(output, reference)
    p_ref, p_out = _power_spectrogram(ref), _power_spectrogram(out)
    total = float(p_ref.sum())
    if total <= 0.0:
        raise ValueError("reference is silent")
    high = librosa.fft_frequencies(sr=sample_rate, n_fft=N_FFT) >= cutoff_hz
    epsilon = total * 10.0 ** (-FLOOR_DB / 10.0)
    return float(10.0 * np.log10(max(float(p_out[high].sum()), epsilon) / max(float(p_ref[high].sum()), epsilon)))


# --- descriptors of one sound ---------------------------------------------------------------


def spectral_centroid_hz(audio: np.ndarray, sample_rate: int) -> float:
    """Energy-weighted mean spectral centroid in Hz.

    Per frame (Hann, n_fft 2048, hop 512) ``c_m = Σ_k f_k |S_km| / Σ_k |S_km|``
    (``librosa.feature.spectral_centroid``); frames are averaged with weights ``Σ_k |S_km|²`` so
    that the silent tail does not count. Input mono float ``[samples]`` at ``sample_rate`` Hz.
    Raises ``ValueError`` for silent input.
    """
    magnitude = np.abs(librosa.stft(np.asarray(audio, dtype=np.float64), n_fft=N_FFT, hop_length=HOP_LENGTH))
    energy = np.sum(magnitude**2, axis=0)
    if energy.sum() <= 0.0:
        raise ValueError("silent signal has no spectral centroid")
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=sample_rate, n_fft=N_FFT)[0]
    return float(np.sum(centroid * energy) / energy.sum())


def loudness_db(audio: np.ndarray) -> float:
    """RMS level in dBFS: ``20·log10(sqrt(mean x²))`` over the whole signal (a full-scale sine is
    −3.01 dB). Chosen over BS.1770 LUFS because gated LUFS needs ≥ 400 ms blocks and many drum
    clips are shorter. Raises ``ValueError`` for an empty or silent signal."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.size == 0 or not np.any(audio):
        raise ValueError("silent signal has no level")
    return float(10.0 * np.log10(np.mean(audio**2)))


def attack_time_ms(audio: np.ndarray, sample_rate: int) -> float:
    """Attack time in ms: from the first time the RMS envelope reaches 10 % of its maximum to the
    first time after that it reaches 90 % (the 10 %→90 % rise time, Peeters et al. 2011, Timbre
    Toolbox): :func:`latentmorph.envelope.attack_span` of :func:`latentmorph.envelope.rms_envelope`
    (256-sample window, 32-sample hop). Input mono float ``[samples]`` at ``sample_rate`` Hz.
    Raises ``ValueError`` for silent input.
    """
    start, end = envelope.attack_span(envelope.rms_envelope(audio))
    return float((end - start) * envelope.ENVELOPE_HOP / sample_rate * 1e3)


# --- behaviour along a morph ----------------------------------------------------------------


def linearity_r2(t: np.ndarray, values: np.ndarray) -> float:
    """Coefficient of determination of the least-squares line ``values ≈ α + β·t``:
    ``R² = 1 − Σ(v − v̂)² / Σ(v − v̄)²`` (= Pearson r²). ``t``, ``values``: float ``[steps]``.
    Returns NaN for a constant ``values`` (R² undefined). Raises ``ValueError`` for < 3 steps or
    mismatched lengths."""
    t, values = _check_sequence(t, values)
    if np.ptp(values) == 0.0:
        return float("nan")
    return float(scipy.stats.linregress(t, values).rvalue ** 2)


def monotonicity(t: np.ndarray, values: np.ndarray) -> float:
    """|Spearman ρ| of ``values`` against ``t`` (``scipy.stats.spearmanr``): 1 for a strictly
    monotone sequence, either direction. NaN for a constant sequence. Raises like
    :func:`linearity_r2`."""
    t, values = _check_sequence(t, values)
    if np.ptp(values) == 0.0:
        return float("nan")
    return float(abs(scipy.stats.spearmanr(t, values).statistic))


def _check_sequence(t: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t, values = np.asarray(t, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if t.shape != values.shape or t.ndim != 1 or len(t) < 3:
        raise ValueError(f"need two equal 1-D sequences of ≥ 3 steps, got {t.shape} and {values.shape}")
    return t, values


def step_smoothness(grid: np.ndarray) -> float:
    """``max_i d_i / mean_i d_i`` with ``d_i = mrstft_distance(grid[i+1], grid[i])`` the distance
    between consecutive steps of ``grid`` float ``[steps, samples]``: 1 when every step changes
    the sound equally, large when one step jumps. NaN when all steps are identical. Raises
    ``ValueError`` for < 3 steps."""
    if len(grid) < 3:
        raise ValueError(f"need ≥ 3 steps, got {len(grid)}")
    magnitudes = [_stft_magnitudes(np.asarray(step, dtype=np.float64)) for step in grid]  # each step once
    distances = np.array([_mrstft_from_magnitudes(magnitudes[i + 1], magnitudes[i]) for i in range(len(grid) - 1)])
    mean = float(distances.mean())
    return float(distances.max() / mean) if mean > 0.0 else float("nan")


# --- doubling ---------------------------------------------------------------------------------

#: Semitone bands of :func:`doubling_score`: centres 30 Hz · 2^(k/12) up to 16 kHz.
BAND_LOW_HZ = 30.0
BAND_HIGH_HZ = 16000.0
#: Long-term spectrum FFT: 8192 samples gives 5.4 Hz bins at 44.1 kHz; bands narrower than a bin
#: (below ~90 Hz) that hold no bin are dropped.
BAND_N_FFT = 8192
#: Bands more than this far below the loudest band of the three spectra get proportionally less
#: weight in the fit (they are the noise floor).
BAND_WEIGHT_FLOOR_DB = 60.0


@dataclasses.dataclass(frozen=True)
class Doubling:
    """Result of :func:`doubling_score`: ``score`` in [0, 1]; ``explained_variance`` R² of the
    fit in [0, 1]; ``weight_a``, ``weight_b`` the non-negative mix weights (fractions of the
    midpoint's power)."""

    score: float
    explained_variance: float
    weight_a: float
    weight_b: float


def semitone_band_spectrum(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Long-term power spectrum in semitone bands: the mean over frames of ``|STFT|²`` (Hann,
    n_fft 8192, hop 2048) summed over the bins inside each band (centres ``30·2^(k/12)`` Hz up to
    16 kHz, edges half a semitone either side). Returns float64 ``[bands]``, bands holding no FFT
    bin at ``sample_rate`` left out (the same bands for any input at that rate)."""
    power = np.mean(_power_spectrogram(np.asarray(audio, dtype=np.float64), BAND_N_FFT, BAND_N_FFT // 4), axis=1)
    semitones = np.arange(0, int(np.floor(12 * np.log2(BAND_HIGH_HZ / BAND_LOW_HZ))) + 1)
    edges_hz = BAND_LOW_HZ * 2.0 ** ((np.append(semitones, semitones[-1] + 1) - 0.5) / 12)
    band = np.digitize(librosa.fft_frequencies(sr=sample_rate, n_fft=BAND_N_FFT), edges_hz) - 1
    inside = (band >= 0) & (band < len(semitones))
    sums = np.bincount(band[inside], weights=power[inside], minlength=len(semitones))
    counts = np.bincount(band[inside], minlength=len(semitones))
    return sums[counts > 0]


def doubling_score(midpoint: np.ndarray, audio_a: np.ndarray, audio_b: np.ndarray, sample_rate: int) -> Doubling:
    """How much the morph midpoint sounds like A and B played at once (the crossfade artefact).

    With ``m``, ``a``, ``b`` the :func:`semitone_band_spectrum` of midpoint, A and B, each
    normalised to unit sum (so the weights are fractions of power and a level difference between
    A and B is not mistaken for a mix), fit ``m ≈ w_A·a + w_B·b`` with ``w_A, w_B ≥ 0`` by
    weighted non-negative least squares (``scipy.optimize.nnls``). Band weights
    ``λ_k = 1 / max(s_k, max(s)·10^(−60/10))`` with ``s = (m + a + b)/3`` make the fit relative
    per band, so the few loud low bands do not dominate and every band within 60 dB of the
    loudest counts alike. Then

        R² = 1 − ‖λ(m − m̂)‖² / ‖λm‖²   (uncentred: the fit has no intercept, and a perfect
                                       crossfade makes λm nearly constant across bands)
        doubling = R² · 2·min(w_A, w_B) / (w_A + w_B)

    ≈ 1 for an equal-power mix of A and B, ≈ 0 when the midpoint is one source alone or a
    spectrum neither explains. Inputs: mono float ``[samples]`` at ``sample_rate`` Hz, any
    lengths. Raises ``ValueError`` when an input is silent.
    """
    spectra = []
    for name, audio in (("midpoint", midpoint), ("A", audio_a), ("B", audio_b)):
        spectrum = semitone_band_spectrum(audio, sample_rate)
        if spectrum.sum() <= 0.0:
            raise ValueError(f"{name} is silent")
        spectra.append(spectrum / spectrum.sum())
    m, a, b = spectra
    mean = (m + a + b) / 3.0
    weights = 1.0 / np.maximum(mean, mean.max() * 10.0 ** (-BAND_WEIGHT_FLOOR_DB / 10.0))
    (weight_a, weight_b), _ = scipy.optimize.nnls(np.stack([a, b], axis=1) * weights[:, None], m * weights)
    target = m * weights
    residual = target - (weight_a * a + weight_b * b) * weights
    explained = float(np.clip(1.0 - np.sum(residual**2) / np.sum(target**2), 0.0, 1.0))
    balance = 2.0 * min(weight_a, weight_b) / (weight_a + weight_b) if weight_a + weight_b > 0 else 0.0
    return Doubling(explained * balance, explained, float(weight_a), float(weight_b))


# --- fidelity: pitch, frame periodicity, frame-rate comb ----------------------------------------

#: Highest comb line :func:`comb_contrast_db` looks at, Hz.
COMB_MAX_HZ = 8000.0
#: Half-width of a comb line / gap in :func:`comb_contrast_db`, Hz.
COMB_HALF_WIDTH_HZ = 2.0


def f0_hz(audio: np.ndarray, sample_rate: int) -> float:
    """Median fundamental frequency over the voiced frames, Hz (pyin, Mauch & Dixon 2014:
    :func:`latentmorph.pitch.f0_track`); NaN when no frame is voiced. ``audio``: mono float
    ``[samples]``."""
    f0, voiced, _ = pitch.f0_track(audio, sample_rate)
    return float(np.median(f0[voiced])) if voiced.any() else float("nan")


def cents(f_hz: float, reference_hz: float) -> float:
    """Interval from ``reference_hz`` to ``f_hz`` in cents (1200 · log2 ratio)."""
    return float(1200.0 * np.log2(f_hz / reference_hz))


def autocorrelation(audio: np.ndarray, lag: int) -> float:
    """Normalised autocorrelation at ``lag`` samples, ``Σ x[n]x[n+lag] / √(Σ x[n]² · Σ x[n+lag]²)``
    over the overlap, in [−1, 1] (0 for a silent overlap). A signal that repeats every ``lag``
    samples scores 1. Raises ``ValueError`` when ``lag`` is not shorter than the signal."""
    x = np.asarray(audio, dtype=np.float64)
    if not 0 < lag < len(x):
        raise ValueError(f"lag {lag} must be in (0, {len(x)})")
    a, b = x[:-lag], x[lag:]
    denominator = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / denominator) if denominator > 0 else 0.0


def comb_contrast_db(audio: np.ndarray, sample_rate: int, period_samples: int) -> float:
    """How far a comb at multiples of ``f_c = sample_rate / period_samples`` Hz stands out of the
    spectrum, in dB: for each line ``k·f_c`` from ``f_c`` up to :data:`COMB_MAX_HZ`, the peak power
    of the whole-signal spectrum (Hann, zero-padded to ≥ 4× the length) within
    ±:data:`COMB_HALF_WIDTH_HZ` of the line over the peak power within that of the gaps
    ``(k ± ½)·f_c`` either side (their mean); the median over lines. A signal that repeats every
    ``period_samples`` (a frame-periodic decoder) has every line up: tens of dB. A tone whose
    partials happen to fall near a few lines moves the median little, but compare with the
    input's value all the same. ``audio``: mono float ``[samples]``, at least two periods long."""
    x = np.asarray(audio, dtype=np.float64)
    if len(x) < 2 * period_samples:
        raise ValueError(f"need at least {2 * period_samples} samples, got {len(x)}")
    n_fft = 1 << int(np.ceil(np.log2(4 * len(x))))
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=n_fft)) ** 2 + 1e-30
    bin_hz = sample_rate / n_fft
    spacing = sample_rate / period_samples
    k = np.arange(1, int(min(COMB_MAX_HZ, sample_rate / 2 - spacing) / spacing) + 1)
    half = max(1, int(round(COMB_HALF_WIDTH_HZ / bin_hz)))

    def peak_db(centres_hz: np.ndarray) -> np.ndarray:
        index = np.rint(centres_hz / bin_hz).astype(int)[:, None] + np.arange(-half, half + 1)[None, :]
        return 10.0 * np.log10(power[np.clip(index, 0, len(power) - 1)].max(axis=1))

    gaps = 0.5 * (peak_db((k - 0.5) * spacing) + peak_db((k + 0.5) * spacing))
    return float(np.median(peak_db(k * spacing) - gaps))


#: Bounds of :func:`frame_periodicity`'s check (issue 9): the autocorrelation at half and one
#: frame period within this of the reference's, and the frame-rate comb at most this many dB
#: above the reference's.
AUTOCORRELATION_TOLERANCE = 0.15
COMB_EXCESS_DB = 3.0


@dataclasses.dataclass(frozen=True)
class FramePeriodicity:
    """Result of :func:`frame_periodicity`: ``autocorrelation_deviation`` (largest |difference| of
    the normalised autocorrelations at half and one period), ``comb_excess_db`` (comb contrast of
    the output minus the reference's, dB) and ``ok`` (both within the bounds)."""

    autocorrelation_deviation: float
    comb_excess_db: float
    ok: bool


def frame_periodicity(
    output: np.ndarray, reference: np.ndarray, sample_rate: int, period_samples: int
) -> FramePeriodicity:
    """Does ``output`` repeat every ``period_samples`` (a decoder's frame) where ``reference``
    does not? Compares :func:`autocorrelation` at ``period_samples / 2`` and ``period_samples`` and
    :func:`comb_contrast_db` at ``sample_rate / period_samples`` Hz, against
    :data:`AUTOCORRELATION_TOLERANCE` and :data:`COMB_EXCESS_DB`. Mono float ``[samples]``; the
    longer is cut to the shorter, which must hold two periods."""
    out, ref = _common_length(output, reference)
    deviation = max(
        abs(autocorrelation(out, lag) - autocorrelation(ref, lag)) for lag in (period_samples // 2, period_samples)
    )
    excess = comb_contrast_db(out, sample_rate, period_samples) - comb_contrast_db(ref, sample_rate, period_samples)
    return FramePeriodicity(deviation, excess, deviation <= AUTOCORRELATION_TOLERANCE and excess <= COMB_EXCESS_DB)
