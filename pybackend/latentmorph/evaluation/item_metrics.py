"""The metrics of one item: a reconstruction against its clip, a morph grid against its sources."""

from __future__ import annotations

import functools

import numpy as np
import scipy.signal
import soxr

from .. import metrics
from ..morph import morph_positions

#: The metrics of a clip and of a pair, in the order of the report's tables.
RECONSTRUCTION_METRICS = (
    "mrstft",
    "lsd_db",
    "hf_excess_db",
    "visqol_mos",
    "comb_excess_db",
    "autocorrelation_deviation",
    "no_frame_periodicity",
    "f0_error_cents",
    "f0_within_25_cents",
)
MORPH_METRICS = (
    "centroid_r2",
    "centroid_spearman",
    "loudness_r2",
    "loudness_spearman",
    "attack_r2",
    "attack_spearman",
    "step_smoothness",
    "step_max_over_median",
    "endpoint_mrstft",
    "endpoint_ratio",
    "doubling",
)
#: A reconstructed pitched clip is "in tune" within this many cents of the original's f0 (issue 9).
F0_TARGET_CENTS = 25.0

#: ViSQOL v3 audio mode: it works at 48 kHz on a spectrogram of 80 ms frames every 20 ms, compares
#: patches of 30 frames (0.6 s) and starts the first at frame 14 (0.28 s): a clip's first 0.28 s and
#: any tail past the last whole patch are never compared, so :func:`visqol_mos` pads clips to fit.
VISQOL_SAMPLE_RATE_HZ = 48000
VISQOL_FRAME_S = 0.08
VISQOL_HOP_S = 0.02
VISQOL_PATCH_FRAMES = 30
VISQOL_FIRST_PATCH_FRAME = 14


@functools.lru_cache(maxsize=1)
def _visqol_api():
    from visqol import VisqolApi  # imported here: only `latentmorph eval` needs ViSQOL, never the backend

    api = VisqolApi()
    api.create(mode="audio")
    return api


def visqol_mos(output: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """ViSQOL v3 MOS-LQO of ``output`` against ``reference`` (mono float ``[samples]`` at
    ``sample_rate`` Hz): a perceptual quality score from 1 (bad) to 5, in practice at most 4.73
    (identical signals) — Chinen et al., "ViSQOL v3: an open source production ready objective
    speech and audio metric", QoMEX 2020.

    Audio mode (32 gammatone bands, NSIM of 0.6 s spectrogram patches mapped to MOS by the
    bundled SVR model) of the ``visqol-python`` port of Google's C++ ViSQOL 3.3.3. Both signals are
    resampled to :data:`VISQOL_SAMPLE_RATE_HZ` (soxr HQ) and zero-padded — 0.28 s before, so that
    the first patch starts with the clip (ViSQOL skips a signal's first 0.28 s, a one-shot's
    attack), and after, to the end of the patch holding the clip's end (≥ 0.98 s in all; more
    silence would add perfect silent patches). NaN when ``output`` is silent. The first call in a
    fresh environment compiles ViSQOL's numba kernels (~15 s, cached on disk); then each call takes
    ~0.1 s + 0.1 s per started 0.6 s of clip (2-core machine, busy).
    """
    hop = round(VISQOL_HOP_S * VISQOL_SAMPLE_RATE_HZ)
    lead = VISQOL_FIRST_PATCH_FRAME * hop
    patch = VISQOL_PATCH_FRAMES * hop
    signals = [np.asarray(audio, dtype=np.float64) for audio in (reference, output)]
    if sample_rate != VISQOL_SAMPLE_RATE_HZ:
        signals = [soxr.resample(x, sample_rate, VISQOL_SAMPLE_RATE_HZ, quality="HQ") for x in signals]
    patches = max(1, -(-max(map(len, signals)) // patch))
    # ViSQOL compares patch k (frames 14 + 30k …) only when the spectrogram has ≥ 46 + 30k frames.
    total = round(VISQOL_FRAME_S * VISQOL_SAMPLE_RATE_HZ) + hop * (
        VISQOL_FIRST_PATCH_FRAME + 1 + VISQOL_PATCH_FRAMES * patches
    )
    padded = [np.pad(x, (lead, total - lead - len(x))) for x in signals]
    with np.errstate(invalid="ignore", divide="ignore"):  # a silent output: NaN, said above
        return float(_visqol_api().measure_from_arrays(*padded, VISQOL_SAMPLE_RATE_HZ).moslqo)


def reconstruction_metrics(
    output: np.ndarray,
    reference: np.ndarray,
    sample_rate: int,
    visqol: bool = False,
    frame_period_samples: int = 512,
    reference_f0_hz: float | None = None,
) -> dict[str, float]:
    """Metrics of ``output`` against ``reference``, mono float ``[samples]`` at ``sample_rate`` Hz:

    - ``mrstft`` (:func:`~latentmorph.metrics.mrstft_distance`), ``lsd_db``
      (:func:`~latentmorph.metrics.log_spectral_distance_db`), ``hf_excess_db``
      (:func:`~latentmorph.metrics.hf_excess_db`, above 12 kHz); when ``visqol``, ``visqol_mos``
      (:func:`visqol_mos`);
    - ``comb_excess_db``, ``autocorrelation_deviation`` and ``no_frame_periodicity`` (1 when both are
      within bounds, else 0) of :func:`~latentmorph.metrics.frame_periodicity` at
      ``frame_period_samples`` (the model's latent hop); NaN for clips shorter than two periods;
    - when ``reference_f0_hz`` is given (a pitched clip whose pitch pyin found): ``f0_error_cents``
      (absolute, :func:`~latentmorph.metrics.f0_hz` of the output; NaN when it finds none) and
      ``f0_within_25_cents`` (1 or 0; an output without pitch counts 0)."""
    result = {
        "mrstft": metrics.mrstft_distance(output, reference),
        "lsd_db": metrics.log_spectral_distance_db(output, reference),
        "hf_excess_db": metrics.hf_excess_db(output, reference, sample_rate),
    }
    if visqol:
        result["visqol_mos"] = visqol_mos(output, reference, sample_rate)
    if min(len(output), len(reference)) >= 2 * frame_period_samples:
        periodicity = metrics.frame_periodicity(output, reference, sample_rate, frame_period_samples)
        result.update(
            comb_excess_db=periodicity.comb_excess_db,
            autocorrelation_deviation=periodicity.autocorrelation_deviation,
            no_frame_periodicity=float(periodicity.ok),
        )
    if reference_f0_hz is not None:
        error = abs(metrics.cents(metrics.f0_hz(output, sample_rate), reference_f0_hz))
        result.update(f0_error_cents=error, f0_within_25_cents=float(error <= F0_TARGET_CENTS))
    return result


def _align_to(step: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The ``len(reference)`` samples of ``step`` at the lag (≥ 0) of maximum cross-correlation:
    undoes the onset padding of a grid step whatever alignment produced it."""
    if len(step) < len(reference):
        step = np.pad(step, (0, len(reference) - len(step)))
    lag = int(np.argmax(scipy.signal.correlate(step, reference, mode="valid", method="fft")))
    return step[lag : lag + len(reference)]


def morph_metrics(grid: np.ndarray, audio_a: np.ndarray, audio_b: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Metrics of one morph ``grid`` float32 ``[steps, samples]`` (t = i / (steps − 1), steps odd
    so that t = 0.5 is a step) between sources ``audio_a`` and ``audio_b`` ``[samples]``, all at
    ``sample_rate`` Hz:

    - ``{centroid,loudness,attack}_{r2,spearman}``: :func:`~latentmorph.metrics.linearity_r2` and
      :func:`~latentmorph.metrics.monotonicity` against t of the energy-weighted spectral centroid,
      the RMS level (dB) and the 10 %→90 % attack time (ms);
    - ``step_smoothness``: :func:`~latentmorph.metrics.step_smoothness`; ``step_max_over_median``:
      the largest MR-STFT distance between neighbouring steps over the median one (continuity:
      the ends included, no step may jump);
    - ``endpoint_mrstft``: mean MR-STFT distance of step 0 from A and of the last step from B, each
      step cut at the lag that best matches its source;
    - ``doubling`` (+ ``doubling_r2``, ``doubling_weight_a``, ``doubling_weight_b``):
      :func:`~latentmorph.metrics.doubling_score` of the t = 0.5 step.

    Raises ``ValueError`` for an even number of steps, fewer than 3, or a silent step or source.
    """
    steps = len(grid)
    if steps < 3 or steps % 2 == 0:
        raise ValueError(f"need an odd number ≥ 3 of steps (t = 0.5 must be a step), got {steps}")
    t = morph_positions(steps)
    descriptors = {
        "centroid": [metrics.spectral_centroid_hz(g, sample_rate) for g in grid],
        "loudness": [metrics.loudness_db(g) for g in grid],
        "attack": [metrics.attack_time_ms(g, sample_rate) for g in grid],
    }
    result = {}
    for name, values in descriptors.items():
        result[f"{name}_r2"] = metrics.linearity_r2(t, np.array(values))
        result[f"{name}_spearman"] = metrics.monotonicity(t, np.array(values))
    result["step_smoothness"] = metrics.step_smoothness(grid)
    distances = [metrics.mrstft_distance(grid[i + 1], grid[i]) for i in range(steps - 1)]
    result["step_max_over_median"] = float(max(distances) / max(float(np.median(distances)), 1e-12))
    result["endpoint_mrstft"] = 0.5 * (
        metrics.mrstft_distance(_align_to(grid[0], audio_a), audio_a)
        + metrics.mrstft_distance(_align_to(grid[-1], audio_b), audio_b)
    )
    doubling = metrics.doubling_score(grid[steps // 2], audio_a, audio_b, sample_rate)
    result.update(
        doubling=doubling.score,
        doubling_r2=doubling.explained_variance,
        doubling_weight_a=doubling.weight_a,
        doubling_weight_b=doubling.weight_b,
    )
    return result
