"""Temporal envelopes: the RMS envelope, its attack span, and the morph of the attack.

A morph's spectrum comes from the model; its attack should lie between the sources' attacks, as
its level and spectral centroid do. The decoder smears and shifts transients (its STFT frames are
1024 samples long), so the attack of a decoded morph point jumps about instead of moving from one
source's attack to the other's. :func:`shape_attacks` re-imposes it by *feature interpolation*
of the temporal envelope (Caetano & Rodet, "Musical instrument sound morphing guided by
perceptually motivated features", IEEE TASLP 21(8), 2013): each point's attack time is the
sources' attack times interpolated by weight, the envelope shape around it is the sources'
envelopes time-warped onto that attack and averaged in dB, and a slowly varying gain brings the
decoded point's envelope onto it up to the end of the attack. After the attack the gain is held,
so the decay stays the model's.
"""

from __future__ import annotations

import librosa
import numpy as np

#: RMS envelope: 256-sample window (5.8 ms at 44.1 kHz), 32-sample hop (0.73 ms), centred frames.
ENVELOPE_FRAME = 256
ENVELOPE_HOP = 32
#: The attack runs from the first time the envelope reaches 10 % of its maximum to the first time
#: after that it reaches 90 % (Peeters et al. 2011, Timbre Toolbox).
ATTACK_START = 0.1
ATTACK_END = 0.9
#: How long after the end of the attack the envelope is still shaped before the gain is held (ms).
ATTACK_HOLD_MS = 20.0
#: Bounds of the attack-shaping gain (dB): a slower attack may need a deep fade-in; a faster one
#: is only lifted as far as this, so noise before an onset is never pulled up far.
ATTACK_GAIN_MIN_DB = -60.0
ATTACK_GAIN_MAX_DB = 12.0
#: After the attack, the envelope stays this far under the attack's peak (dB): more than the
#: 0.92 dB between the peak and the attack's 90 % end, so the end cannot move past the attack.
PEAK_MARGIN_DB = 1.0
#: Envelope floor relative to the peak when working in dB.
FLOOR_DB = -100.0


def rms_envelope(audio: np.ndarray) -> np.ndarray:
    """RMS envelope of ``audio`` float ``[..., samples]``: float64 ``[..., frames]``, frame ``m``
    centred on sample ``m · ENVELOPE_HOP`` (``librosa.feature.rms``, zero-padded at both ends)."""
    audio = np.asarray(audio, dtype=np.float64)
    return librosa.feature.rms(y=audio, frame_length=ENVELOPE_FRAME, hop_length=ENVELOPE_HOP)[..., 0, :]


def attack_span(envelope: np.ndarray) -> tuple[float, float]:
    """The attack of one envelope ``[frames]`` (non-negative): the frames (fractional, crossings
    interpolated linearly between frames) where it first reaches :data:`ATTACK_START` of its
    maximum and, after that, :data:`ATTACK_END`. Raises ``ValueError`` for an all-zero envelope."""
    envelope = np.asarray(envelope, dtype=np.float64)
    peak = float(envelope.max(initial=0.0))
    if peak <= 0.0:
        raise ValueError("silent signal has no attack")

    def crossing(level: float, start: int) -> float:
        i = start + int(np.argmax(envelope[start:] >= level))
        if i == 0 or envelope[i - 1] >= level:
            return float(i)
        return i - 1 + (level - envelope[i - 1]) / (envelope[i] - envelope[i - 1])

    start = crossing(ATTACK_START * peak, 0)
    return start, crossing(ATTACK_END * peak, int(np.floor(start)))


def _level_db(envelope: np.ndarray) -> np.ndarray:
    """``envelope [..., frames]`` in dB relative to its own maximum, floored at :data:`FLOOR_DB`."""
    peak = np.maximum(envelope.max(axis=-1, keepdims=True), 1e-30)
    return 20.0 * np.log10(np.maximum(envelope / peak, 10.0 ** (FLOOR_DB / 20.0)))


def target_attack_db(
    source_levels_db: np.ndarray, source_spans: list[tuple[float, float] | None], weights: np.ndarray
) -> tuple[np.ndarray, float]:
    """The attack envelope of one morph point: each source's envelope time-warped, piecewise
    linearly, so that its attack start and end fall on the weighted means of the sources' starts
    and ends (after the attack, time runs on at rate 1), then averaged in dB by weight.

    Args:
        source_levels_db: float ``[n_sources, frames]`` onset-aligned RMS envelopes in dB relative
            to their own peaks (:func:`rms_envelope`, :func:`_level_db`).
        source_spans: each source's :func:`attack_span`; ``None`` for a silent source, which must
            have zero weight.
        weights: float ``[n_sources]``, ≥ 0, summing to 1.

    Returns:
        ``(level_db, attack_end)``: float64 ``[frames]`` dB relative to the sources' peaks, and the
        frame where the point's attack ends.

    Raises:
        ValueError: a silent source has non-zero weight.
    """
    spans: dict[int, tuple[float, float]] = {}
    for source in map(int, np.flatnonzero(weights > 0.0)):
        span = source_spans[source]
        if span is None:
            raise ValueError("silent signal has no attack")
        spans[source] = span
    start = sum(weights[i] * s for i, (s, _) in spans.items())
    end = start + max(sum(weights[i] * (e - s) for i, (s, e) in spans.items()), 1e-3)
    level_db = np.zeros(source_levels_db.shape[-1])
    for i, span in spans.items():
        level_db += weights[i] * _warp(source_levels_db[i], span, (start, end))
    # the mix peaks where its own level says, not necessarily where the sources' spans met: one
    # more warp puts its own 10 % and 90 % crossings on (start, end)
    mixed_span = attack_span(10.0 ** (level_db / 20.0))
    return _warp(level_db, mixed_span, (start, end)), end


def _warp(curve: np.ndarray, span: tuple[float, float], target: tuple[float, float]) -> np.ndarray:
    """``curve [frames]`` time-warped piecewise linearly so that its frames ``span`` land on the
    frames ``target``: 0 → 0, then slope 1 after the span's end. Values are only moved in time,
    so the first crossing of any level moves with them."""
    (s, e), (start, end) = span, target
    frames = len(curve)
    tau = np.arange(frames, dtype=np.float64)
    source_time = np.interp(
        tau, [0.0, max(start, 1e-6), max(end, start + 1e-6), end + frames], [0.0, s, max(e, s + 1e-6), e + frames]
    )
    return np.interp(source_time, tau, curve)


def shape_attacks(points: np.ndarray, sources: np.ndarray, weights: np.ndarray, sample_rate: int) -> np.ndarray:
    """Give each morph point the attack its weights ask for (module docstring): a gain per
    envelope frame, ``target − own`` in dB (both relative to their maxima), clipped to
    [:data:`ATTACK_GAIN_MIN_DB`, :data:`ATTACK_GAIN_MAX_DB`], applied up to
    :data:`ATTACK_HOLD_MS` after the target attack ends (or its peak, if later) and held from
    there (at most to :data:`PEAK_MARGIN_DB` under the target's peak), interpolated
    linearly between frame centres. One-hot points (a source itself) are left unchanged,
    sample for sample. Works in place, one point at a time (a 9 × 9 pad stays small).

    Args:
        points: float32 ``[points, samples]`` decoded morph points, on the sources' onset-aligned
            time axis; scaled in place.
        sources: float ``[n_sources, samples]`` the onset-aligned sources.
        weights: float ``[points, n_sources]`` barycentric weights.
        sample_rate: Hz.

    Returns:
        ``points``.

    Raises:
        ValueError: a source with non-zero weight is silent.
    """
    weights = np.asarray(weights, dtype=np.float64)
    source_envelopes = rms_envelope(sources)
    # the sources' levels and attacks, once for all points
    source_levels_db = _level_db(source_envelopes)
    source_spans = [attack_span(envelope) if envelope.max() > 0.0 else None for envelope in source_envelopes]
    hold_frames = ATTACK_HOLD_MS * 1e-3 * sample_rate / ENVELOPE_HOP
    centres = np.arange(source_envelopes.shape[-1]) * ENVELOPE_HOP
    samples = np.arange(points.shape[1])
    for p in np.flatnonzero(weights.max(axis=1) < 1.0):
        target_db, attack_end = target_attack_db(source_levels_db, source_spans, weights[p])
        own_db = _level_db(rms_envelope(points[p]))
        gain_db = np.clip(target_db - own_db, ATTACK_GAIN_MIN_DB, ATTACK_GAIN_MAX_DB)
        hold = min(int(np.ceil(max(attack_end + hold_frames, float(np.argmax(target_db))))), len(gain_db) - 1)
        # after the attack: the held gain, but kept :data:`PEAK_MARGIN_DB` under the target's
        # peak, so that a later swell of the decode does not become the peak the attack is
        # measured against
        gain_db[hold:] = np.minimum(gain_db[hold], target_db.max() - PEAK_MARGIN_DB - own_db[hold:])
        points[p] *= 10.0 ** (np.interp(samples, centres, gain_db) / 20.0)
    return points
