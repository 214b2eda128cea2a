"""Latent morphing: N-way morphs of 2–4 sources.

Morph pipeline (:func:`blend`; :func:`render_grid` is its two-source case) for sources at the
model rate:

1. each is peak-normalised to :data:`PEAK_TARGET` (the training level) and its gain remembered;
2. all are aligned at their onsets, sample-accurately, by zero-padding the earlier ones at the
   front, and zero-padded at the end to a common length (so their first transients fall in the
   same latent frame instead of doubling);
3. all are encoded in one batch to latent sequences ``z[frames, latent_dim]``;
4. an alignment path pairs their frames: the diagonal for ``align="onset"``; for ``align="dtw"``
   a dynamic-time-warping path, so later events (a second hit, a decay) are paired as well;
5. for each point with barycentric weights ``w`` (one per source, ≥ 0, summing to 1), the
   latent values along the path are interpolated (``interp="linear"``: ``Σ w_i z_i``;
   ``"slerp"``: spherical; :mod:`latentmorph.latents`) and so is the time axis, then the
   result is resampled to whole latent frames;
6. the sources' own latents and the points (:data:`DECODE_CHUNK_POINTS` at a time) are decoded;
   each point gets each source's residual (source − its own decode) weighted by
   :func:`detail_weights`, so the ends are the sources themselves; its attack is moved onto the
   sources' attacks interpolated by weight (:func:`latentmorph.envelope.shape_attacks`); then it
   is scaled so that its RMS level is the sources' levels
   interpolated in dB (``Σ w_i · level_db_i``, :func:`matched_gain_db`: no level dip or bump
   mid-morph, whatever the decoder's own level), shifted to start at the sources' leading
   silences interpolated by weight, limited to a peak of 1 and faded out over
   :data:`FADE_OUT_MS`.

"New sounds" and variations are in :mod:`latentmorph.generate`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .envelope import shape_attacks
from .errors import LatentMorphError
from .latents import (
    ALIGN_MODES,
    DEFAULT_ALIGN,
    DEFAULT_INTERP,
    INTERP_MODES,
    check_choice,
    check_weights,
    morph_latents,
)
from .model import MorphModel

#: How far each source's residual reaches into a morph (:func:`detail_weights`); chosen with
#: ``latentmorph eval`` (MODEL_CARD.md).
DEFAULT_DETAIL = 0.5
#: Bins whose weighted source level is further than this below the loudest take the model's own
#: phase advance instead of the sources' (:func:`source_phase_increment`), dB.
SOURCE_PHASE_FLOOR_DB = 70.0
#: Peak level the model was trained at (clips are normalised to 0.9 by the data pipeline).
PEAK_TARGET = 0.9
#: Onset = first sample whose magnitude reaches this fraction of the peak.
ONSET_THRESHOLD = 0.1
FADE_OUT_MS = 5.0
#: Window of :func:`limit_peaks` (its look-ahead and release), ms.
LIMITER_WINDOW_MS = 5.0
MIN_PEAK = 1e-5
#: Largest level correction :func:`matched_gain_db` applies, in dB either way (a decode that came
#: out near-silent is not blown up into noise).
MAX_LEVEL_CORRECTION_DB = 24.0

MAX_SOURCES = 4
#: Morph points decoded per batch by :func:`blend`: bounds its memory (the source phase and the
#: decoder outputs are ``[points, 513, frames]`` each) whatever the number of points.
DECODE_CHUNK_POINTS = 8


class MorphInputError(LatentMorphError, ValueError):
    """A source is silent or unusable for morphing."""

    code = "audio_load_error"


@dataclasses.dataclass(frozen=True)
class PreparedSource:
    """A source normalised for the encoder. ``audio``: float32 ``[samples]`` at the model rate,
    peak :data:`PEAK_TARGET`; ``gain``: linear factor restoring the original level;
    ``onset_sample``: index of the onset in ``audio``."""

    audio: np.ndarray
    gain: float
    onset_sample: int


def prepare_source(audio: np.ndarray, name: str = "source") -> PreparedSource:
    """Normalise one mono source. Raises :class:`MorphInputError` when it is silent (peak < 1e-5)
    or not one-dimensional."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise MorphInputError(f"{name} must be mono [samples], got shape {audio.shape}")
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if not np.isfinite(peak):
        raise MorphInputError(f"{name} contains NaN or infinite samples")
    if peak < MIN_PEAK:
        raise MorphInputError(f"{name} is silent (peak {peak:.2g} < {MIN_PEAK:g})")
    normalised = audio * (PEAK_TARGET / peak)
    onset = int(np.argmax(np.abs(normalised) >= ONSET_THRESHOLD * PEAK_TARGET))
    return PreparedSource(normalised, peak / PEAK_TARGET, onset)


def align_sources(sources: list[PreparedSource]) -> np.ndarray:
    """Pad sources so their onsets coincide and their lengths match: ``[n_sources, samples]``."""
    lead = max(s.onset_sample for s in sources)
    length = max(lead - s.onset_sample + len(s.audio) for s in sources)
    out = np.zeros((len(sources), length), dtype=np.float32)
    for i, s in enumerate(sources):
        start = lead - s.onset_sample
        out[i, start : start + len(s.audio)] = s.audio
    return out


def morph_positions(steps: int) -> np.ndarray:
    """``t_i = i / (steps − 1)``, float32 ``[steps]``. Raises ``ValueError`` for steps < 2."""
    if steps < 2:
        raise ValueError(f"steps must be ≥ 2, got {steps}")
    return np.linspace(0.0, 1.0, steps, dtype=np.float32)


def rms_db(audio: np.ndarray, num_samples: int) -> np.ndarray:
    """RMS level in dBFS of each row of ``audio [n, samples]`` over its first ``num_samples``
    samples (zero-padded when shorter): float64 ``[n]``, −200 dB for a silent row."""
    audio = np.asarray(audio, dtype=np.float64)[:, :num_samples]
    power = np.sum(audio**2, axis=1) / max(num_samples, 1)
    return 10.0 * np.log10(np.maximum(power, 1e-20))


def matched_gain_db(decoded: np.ndarray, sources: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Gains in dB that give each decoded morph point the RMS level of its sources, interpolated in
    dB: ``target_p = Σ_i w_pi · L_i`` with ``L_i`` the RMS level of source ``i`` (at its own
    gain), measured like the points over the sources' common aligned length — the loudness
    descriptor that ``latentmorph eval`` checks for linearity along a morph (RMS rather than
    BS.1770 LUFS, whose 400 ms gating blocks do not fit short drum hits). A one-hot point gets its
    source's level. The correction is clipped to ±:data:`MAX_LEVEL_CORRECTION_DB`.

    Args:
        decoded: float ``[points, samples']`` decoder output (``samples' ≥ samples``).
        sources: float ``[n_sources, samples]`` aligned sources at their own levels.
        weights: ``[points, n_sources]`` barycentric weights.

    Returns:
        float64 ``[points]`` gains in dB.
    """
    length = sources.shape[1]
    target_db = np.asarray(weights, dtype=np.float64) @ rms_db(sources, length)
    correction = target_db - rms_db(decoded, length)
    return np.clip(correction, -MAX_LEVEL_CORRECTION_DB, MAX_LEVEL_CORRECTION_DB)


def limit_peaks(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Offline look-ahead peak limiter to full scale: the gain ``min(1, 1/|x|)`` per sample, its
    moving minimum over :data:`LIMITER_WINDOW_MS`, then its moving average over the same window
    (each averaged value is ≤ the gain every sample in reach needs, so no sample exceeds 1 and
    the gain moves smoothly in and out). A render whose peak is ≤ 1 is returned unchanged; a
    spike is pulled down without turning the whole render down (which a plain peak
    normalisation did, so a morph step with one loud click lost its level). ``audio``: float
    ``[n, samples]``; returns float64 of that shape."""
    audio = np.asarray(audio, dtype=np.float64)
    needed = np.minimum(1.0, 1.0 / np.maximum(np.abs(audio), 1e-30))
    if needed.min(initial=1.0) >= 1.0:
        return audio
    import scipy.ndimage  # here: only a render that goes over full scale needs it (~0.35 s to import)

    width = max(1, int(LIMITER_WINDOW_MS * 1e-3 * sample_rate)) | 1  # odd: centred windows
    gain = scipy.ndimage.minimum_filter1d(needed, width, axis=-1, mode="nearest")
    gain = scipy.ndimage.uniform_filter1d(gain, width, axis=-1, mode="nearest")
    return np.clip(audio * np.minimum(gain, needed), -1.0, 1.0)


def finish_renders(audio: np.ndarray, gain_db: np.ndarray, sample_rate: int) -> np.ndarray:
    """Scale renders ``[n, samples]`` by ``gain_db [n]``, limit each to a peak of 1
    (:func:`limit_peaks`) and fade the last :data:`FADE_OUT_MS` out, one row at a time (an
    81-point pad stays small). Returns C-contiguous float32 ``[n, samples]``."""
    out = np.empty(audio.shape, dtype=np.float32)
    fade = min(audio.shape[1], int(FADE_OUT_MS * 1e-3 * sample_rate))
    ramp = np.linspace(1.0, 0.0, fade)
    for i, (row, row_gain_db) in enumerate(zip(audio, np.asarray(gain_db, dtype=np.float64))):
        limited = limit_peaks(row[None, :] * 10.0 ** (row_gain_db / 20.0), sample_rate)[0]
        limited[len(limited) - fade :] *= ramp
        out[i] = limited
    return out


def detail_weights(weights: np.ndarray, detail: float) -> np.ndarray:
    """How much of each source's residual a morph point carries: ``clip((w − (1 − δ)) / δ, 0, 1)``
    per source weight ``w`` with ``δ = detail`` — 1 at the source itself, falling linearly to 0
    at weight ``1 − δ``, so with ``δ ≤ 0.5`` the midpoint of a two-source morph is the pure model.
    ``detail = 0``: only the sources themselves carry it (weight exactly 1). ``weights``
    ``[points, n_sources]``; returns float64 of that shape. Raises ``ValueError`` outside [0, 1]."""
    if not 0.0 <= detail <= 1.0:
        raise ValueError(f"detail must be in [0, 1], got {detail}")
    weights = np.asarray(weights, dtype=np.float64)
    if detail == 0.0:
        return (weights >= 1.0 - 1e-12).astype(np.float64)
    return np.clip((weights - (1.0 - detail)) / detail, 0.0, 1.0)


def source_phase_increment(spectra: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The phase each morph point advances by, taken from its sources: per bin and STFT frame, the
    angle of ``Σ_i w_i · |X_i,m| · u_i,m`` with ``u_i,m`` the unit phasor of source ``i``'s phase
    advance ``X_i,m · conj(X_i,m−1)`` (frame 0: of ``X_i,0`` itself, the start phase) — the
    sources' instantaneous frequencies, mixed by weight and level. Where the weighted source level
    is more than :data:`SOURCE_PHASE_FLOOR_DB` below the loudest, NaN (the model's own phase).

    Why: the decoder's instantaneous-frequency head does not yet hold a partial's frequency to the
    few cents a note needs (MODEL_CARD.md); the sources do. The morph's *magnitudes* — the new
    sound — stay the model's; its partials advance at the sources' frequencies, so a morph
    between two C4s plays a C4, and the sources' attacks keep their phase alignment. This is the
    phase-vocoder way of spectral morphing (magnitudes interpolated, phase from the sources; e.g.
    Dolson 1986, "The phase vocoder: a tutorial"), with the model making the magnitudes.

    Args:
        spectra: complex ``[n_sources, bins, frames]``, the onset-aligned sources' STFT in the
            decoder's framing (:meth:`~latentmorph.model.MorphModel.stft`).
        weights: ``[points, n_sources]`` barycentric weights.

    Returns:
        float32 ``[points, bins, frames]`` radians per frame, NaN where the sources are silent.
    """
    spectra = spectra.astype(np.complex64)
    weights = np.asarray(weights, dtype=np.float32)  # complex64 throughout: [points, bins, frames] is large
    magnitude = np.abs(spectra)
    advance = np.concatenate([spectra[..., :1], spectra[..., 1:] * np.conj(spectra[..., :-1])], axis=-1)
    phasor = advance / np.maximum(np.abs(advance), np.float32(1e-30))
    mixed = np.einsum("pn,nbf->pbf", weights, magnitude * phasor)
    level = np.einsum("pn,nbf->pbf", weights, magnitude)
    floor = level.max(axis=(1, 2), keepdims=True) * 10.0 ** (-SOURCE_PHASE_FLOOR_DB / 20.0)
    return np.where(level > floor, np.angle(mixed), np.nan).astype(np.float32)


def blend(
    model: MorphModel,
    sources: list[np.ndarray],
    weights: np.ndarray,
    *,
    align: str = DEFAULT_ALIGN,
    interp: str = DEFAULT_INTERP,
    detail: float | None = None,
) -> np.ndarray:
    """Decode N-way morphs of 2–4 sources at barycentric weights (e.g. the corners of an XY pad).

    The ends are the sources themselves (a sampler plays what it is given): a one-hot row returns
    that source sample for sample, at its own level, from its first sample. In between, the model
    makes the magnitudes and — with ``align="onset"`` and an integrated-phase model — the sources
    the phase advance (:func:`source_phase_increment`); the decode is topped up with each
    source's *residual* — the source minus the decode of its own latent, i.e. what the model
    misses of it — weighted by :func:`detail_weights`, so the steps
    next to a source keep its detail and the morph leaves it without a jump. Each point's attack
    time is the sources' interpolated by weight (:func:`latentmorph.envelope.shape_attacks`). Each row starts at
    the sources' leading silences interpolated by weight (the onset alignment pads the earlier
    ones; that padding is removed again as far as the row's weights say). With ``align="dtw"``
    the residuals are added on the onset-aligned time axis, not warped.

    Args:
        model: loaded encoder/decoder pair.
        sources: 2–4 mono float32 ``[samples]`` arrays at ``model.sample_rate``.
        weights: ``[points, n_sources]``, each entry ≥ 0, each row summing to 1; row ``p`` weights
            source ``i`` by ``weights[p, i]`` (a one-hot row renders that source).
        align: ``"onset"`` (sources padded so their onsets coincide) or ``"dtw"`` (latent
            sequences additionally time-warped against each other; see :func:`~latentmorph.latents.morph_latents`).
        interp: ``"linear"`` or ``"slerp"`` (see :func:`~latentmorph.latents.interpolate_latents`).
        detail: 0 … 1, how far each source's residual reaches into the morph
            (:func:`detail_weights`); ``None``: :data:`DEFAULT_DETAIL`.

    Returns:
        float32 ``[points, samples]`` at ``model.sample_rate``, peak ≤ 1 per point, RMS level
        interpolated in dB between the sources' (:func:`matched_gain_db`); ``samples`` is the
        onset-aligned length rounded up to whole latent frames.

    Raises:
        MorphInputError: a source is silent, not mono or not finite. ``ValueError``: fewer than 2 or
        more than 4 sources, bad weights, unknown ``align`` or ``interp``, detail outside [0, 1].
    """
    check_choice("align", align, ALIGN_MODES)
    check_choice("interp", interp, INTERP_MODES)
    if not 2 <= len(sources) <= MAX_SOURCES:
        raise ValueError(f"blend needs 2 to {MAX_SOURCES} sources, got {len(sources)}")
    weights = check_weights(weights, len(sources))
    carried = detail_weights(weights, DEFAULT_DETAIL if detail is None else detail)
    prepared = [prepare_source(audio, f"sample {chr(ord('A') + i)}") for i, audio in enumerate(sources)]
    aligned = align_sources(prepared)
    n_sources, length = aligned.shape
    z = model.encode(aligned)  # [n, frames, dim]
    padded = np.zeros((n_sources, z.shape[1] * model.hop_length), dtype=np.float32)  # the decode's length
    padded[:, :length] = aligned
    spectra = model.stft(padded) if align == "onset" and model.contract_version >= 3 else None

    def decode(rows: np.ndarray) -> np.ndarray:
        # a warped time axis (dtw) has no source phase
        phase = None if spectra is None else source_phase_increment(spectra, rows)
        return model.decode(morph_latents(z, rows, align=align, interp=interp), phase)

    own = decode(np.eye(n_sources))  # each source's own decode: what its residual is measured from
    # the points in chunks: a 9 × 9 pad of 2-s sources decoded at once peaks at 1.4 GB
    points = np.concatenate(
        [decode(weights[i : i + DECODE_CHUNK_POINTS]) for i in range(0, len(weights), DECODE_CHUNK_POINTS)]
    )
    audio = shape_attacks(points + carried.astype(np.float32) @ (padded - own), padded, weights, model.sample_rate)
    gain_db = matched_gain_db(audio, padded[:, :length], weights) + weights @ (
        20.0 * np.log10([s.gain for s in prepared])
    )
    lead = np.array([max(s.onset_sample for s in prepared) - s.onset_sample for s in prepared])
    shifts = np.rint(weights @ lead).astype(int)
    for p, shift in enumerate(shifts):  # in place: row p moves left by its shift
        audio[p, : audio.shape[1] - shift] = audio[p, shift:]
        audio[p, audio.shape[1] - shift :] = 0.0
    return finish_renders(audio, gain_db, model.sample_rate)


def render_grid(
    model: MorphModel,
    audio_a: np.ndarray,
    audio_b: np.ndarray,
    steps: int,
    *,
    align: str = DEFAULT_ALIGN,
    interp: str = DEFAULT_INTERP,
    detail: float | None = None,
) -> np.ndarray:
    """Decode ``steps`` morph positions between two sources: :func:`blend` at weights
    ``[1 − t, t]`` with ``t = i / (steps − 1)``, so step 0 is A and the last step is B.

    Args:
        model: loaded encoder/decoder pair.
        audio_a, audio_b: mono float32 ``[samples]`` at ``model.sample_rate``.
        steps: number of grid steps K ≥ 2.
        align: ``"onset"`` or ``"dtw"``; interp: ``"linear"`` or ``"slerp"``; detail: 0 … 1 or
            ``None`` (see :func:`blend`).

    Returns:
        float32 ``[steps, samples]`` at ``model.sample_rate``, peak ≤ 1 per step; ``samples`` is
        the aligned length rounded up to whole latent frames; the first row is A, the last B.

    Raises:
        MorphInputError: a source is silent. ``ValueError``: steps < 2, unknown align or interp,
        detail outside [0, 1].
    """
    t = morph_positions(steps).astype(np.float64)
    return blend(model, [audio_a, audio_b], np.stack([1.0 - t, t], axis=1), align=align, interp=interp, detail=detail)


def reconstruct(model: MorphModel, audio: np.ndarray) -> np.ndarray:
    """Encode and decode one source at its own level: float32 ``[samples]`` (same length)."""
    source = prepare_source(audio)
    out = model.decode(model.encode(source.audio[None, :]))[0, : len(audio)] * source.gain
    return out.astype(np.float32)
