"""The systems compared: the model through the product path, the oracle mel + Griffin-Lim
baselines and the waveform crossfade."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import librosa
import numpy as np
import soxr

from ..model import MorphModel
from ..morph import align_sources, prepare_source, reconstruct

#: The systems' names in the report.
OURS, PREVIOUS, CROSSFADE = "ours", "previous", "crossfade"
MEL_GL_16K, MEL_GL_44K = "mel_gl_16k_80", "mel_gl_44k_128"

#: Griffin-Lim iterations of the baselines (librosa's default).
GL_ITERATIONS = 32


def _at_rate(process: Callable[[np.ndarray], np.ndarray], audio: np.ndarray, audio_rate: int, rate: int) -> np.ndarray:
    """``process`` (float ``[samples]`` at ``rate`` → float ``[samples']``) applied to ``audio``
    float32 ``[samples]`` at ``audio_rate``: resampled there and back (soxr HQ) when the rates
    differ, then cut or zero-padded to ``len(audio)``. Returns float32."""
    x = soxr.resample(audio, audio_rate, rate, quality="HQ") if audio_rate != rate else audio
    y = process(x)
    if audio_rate != rate:
        y = soxr.resample(y, rate, audio_rate, quality="HQ")
    out = np.zeros(len(audio), dtype=np.float32)
    out[: min(len(y), len(out))] = y[: len(out)]
    return out


@dataclasses.dataclass(frozen=True)
class ModelReconstruction:
    """A model's reconstruction through the product path (:func:`~latentmorph.morph.reconstruct`),
    at the model's own rate (the input is resampled there and back when it is at another)."""

    name: str
    model: MorphModel

    def __call__(self, audio: np.ndarray, audio_rate: int) -> np.ndarray:
        """float32 ``[samples]`` at ``audio_rate`` → float32 of the same length and rate.
        Raises :class:`~latentmorph.morph.MorphInputError` for a silent input."""
        return _at_rate(functools.partial(reconstruct, self.model), audio, audio_rate, self.model.sample_rate)


@dataclasses.dataclass(frozen=True)
class MelGriffinLim:
    """Oracle mel spectrogram + Griffin-Lim reconstruction at ``sample_rate``.

    The input is resampled to ``sample_rate`` (soxr HQ), its power mel spectrogram taken
    (``librosa.feature.melspectrogram``: Hann, ``n_fft``, ``hop_length``, ``n_mels`` bands up to
    Nyquist), mapped back to a linear magnitude with the least-squares (Moore-Penrose) inverse of
    the mel filter bank clipped at 0 — as good as librosa's NNLS ``mel_to_stft`` on our clips and
    ~5× faster — then ``librosa.griffinlim`` (``n_iter`` iterations, momentum 0.99) and resampled
    back.
    """

    name: str
    sample_rate: int
    n_mels: int
    n_fft: int
    hop_length: int
    n_iter: int = GL_ITERATIONS

    def __call__(self, audio: np.ndarray, audio_rate: int) -> np.ndarray:
        """float32 ``[samples]`` at ``audio_rate`` → float32 of the same length and rate."""
        return _at_rate(self._at_own_rate, audio, audio_rate, self.sample_rate)

    def _at_own_rate(self, x: np.ndarray) -> np.ndarray:
        x = np.pad(x, (0, max(0, self.n_fft - len(x))))  # at least one frame
        mel = librosa.feature.melspectrogram(
            y=x, sr=self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels
        )
        magnitude = np.sqrt(np.maximum(_mel_pseudo_inverse(self.sample_rate, self.n_fft, self.n_mels) @ mel, 0.0))
        return librosa.griffinlim(
            magnitude, n_iter=self.n_iter, hop_length=self.hop_length, n_fft=self.n_fft, length=len(x)
        )


@functools.lru_cache(maxsize=4)
def _mel_pseudo_inverse(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    return np.linalg.pinv(librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels))


def mel_gl_baselines(n_iter: int = GL_ITERATIONS) -> tuple[MelGriffinLim, ...]:
    """The two baselines: 16 kHz / 80 mels (n_fft 1024, hop 256: NeuralFunk-style) and
    44.1 kHz / 128 mels (n_fft 2048, hop 512)."""
    return (
        MelGriffinLim(MEL_GL_16K, 16000, 80, 1024, 256, n_iter),
        MelGriffinLim(MEL_GL_44K, 44100, 128, 2048, 512, n_iter),
    )


def crossfade_grid(audio_a: np.ndarray, audio_b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Waveform crossfade ``(1 − t)·A + t·B`` of the sources at their own levels, aligned at their
    onsets as :func:`latentmorph.morph.render_grid` aligns them: float32 ``[steps, samples]``.
    Raises :class:`~latentmorph.morph.MorphInputError` for a silent source."""
    sources = [prepare_source(audio_a, "sample A"), prepare_source(audio_b, "sample B")]
    aligned = align_sources(sources) * np.array([[s.gain] for s in sources], dtype=np.float32)
    return ((1.0 - t)[:, None] * aligned[0] + t[:, None] * aligned[1]).astype(np.float32)
