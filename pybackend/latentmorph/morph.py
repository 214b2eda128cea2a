"""Latent morphing between two sources: level normalisation, onset alignment, interpolation and
one batched decode of all grid steps.

Pipeline for sources A and B at the model rate:
1. each is peak-normalised to :data:`PEAK_TARGET` (the training level) and its gain remembered;
2. both are aligned at their onsets, sample-accurately, by zero-padding the earlier one at the
   front, and zero-padded at the end to a common length (so their transients fall in the same
   latent frame instead of doubling);
3. both are encoded to latent sequences ``z[frames, latent_dim]``;
4. step ``i`` of ``K`` uses ``t = i / (K - 1)``: ``z_t = (1 − t)·z_A + t·z_B`` (linear), gain
   interpolated in dB;
5. all ``K`` latents are decoded in one batch; each step is rescaled by its gain, limited to a peak
   of 1 and faded out over the last :data:`FADE_OUT_MS`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .model import MorphModel

#: Peak level the model was trained at (clips are normalised to 0.9 by the data pipeline).
PEAK_TARGET = 0.9
#: Onset = first sample whose magnitude reaches this fraction of the peak.
ONSET_THRESHOLD = 0.1
FADE_OUT_MS = 5.0
MIN_PEAK = 1e-5


class MorphInputError(ValueError):
    """A source is silent or unusable for morphing."""


@dataclasses.dataclass(frozen=True)
class PreparedSource:
    """A source normalised for the encoder. ``audio``: float32 ``[samples]`` at the model rate,
    peak :data:`PEAK_TARGET`; ``gain``: linear factor restoring the original level;
    ``onset_sample``: index of the onset in ``audio``."""

    audio: np.ndarray
    gain: float
    onset_sample: int


def prepare_source(audio: np.ndarray, name: str = "source") -> PreparedSource:
    """Normalise one mono source. Raises :class:`MorphInputError` when it is silent (peak < 1e-5)."""
    audio = np.asarray(audio, dtype=np.float32)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
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
        out[i, start:start + len(s.audio)] = s.audio
    return out


def morph_positions(steps: int) -> np.ndarray:
    """``t_i = i / (steps − 1)``, float32 ``[steps]``. Raises ``ValueError`` for steps < 2."""
    if steps < 2:
        raise ValueError(f"steps must be ≥ 2, got {steps}")
    return np.linspace(0.0, 1.0, steps, dtype=np.float32)


def render_grid(model: MorphModel, audio_a: np.ndarray, audio_b: np.ndarray, steps: int) -> np.ndarray:
    """Decode ``steps`` morph positions between two sources.

    Args:
        model: loaded encoder/decoder pair.
        audio_a, audio_b: mono float32 ``[samples]`` at ``model.sample_rate``.
        steps: number of grid steps K ≥ 2 (t = 0 is A, t = 1 is B).

    Returns:
        float32 ``[steps, samples]`` at ``model.sample_rate``, peak ≤ 1 per step; ``samples`` is
        the aligned length rounded up to whole latent frames.

    Raises:
        MorphInputError: a source is silent. ``ValueError``: steps < 2.
    """
    t = morph_positions(steps)
    sources = [prepare_source(audio_a, "sample A"), prepare_source(audio_b, "sample B")]
    aligned = align_sources(sources)
    z = model.encode(aligned)  # [2, frames, dim]
    z_steps = (1.0 - t)[:, None, None] * z[0] + t[:, None, None] * z[1]
    grid = model.decode(z_steps.astype(np.float32))
    log_gain = (1.0 - t) * np.log(sources[0].gain) + t * np.log(sources[1].gain)
    grid *= np.exp(log_gain)[:, None].astype(np.float32)
    peaks = np.max(np.abs(grid), axis=1, keepdims=True)
    grid /= np.maximum(peaks, 1.0)
    fade = min(grid.shape[1], int(FADE_OUT_MS * 1e-3 * model.sample_rate))
    if fade:
        grid[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return np.ascontiguousarray(grid, dtype=np.float32)


def reconstruct(model: MorphModel, audio: np.ndarray) -> np.ndarray:
    """Encode and decode one source at its own level: float32 ``[samples]`` (same length)."""
    source = prepare_source(audio)
    out = model.decode(model.encode(source.audio[None, :]))[0, : len(audio)] * source.gain
    return out.astype(np.float32)
