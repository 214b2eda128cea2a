"""New sounds and variations: latents drawn from a Gaussian fitted to the encoded latent
sequences of the training clips (:class:`LatentPrior`, shipped next to the model, sampled by
:func:`sample_prior`), and temporally smooth noise added to one source's latent
(:func:`variation`). Decoded, levelled and limited like morphs (:func:`latentmorph.morph.finish_renders`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import LatentMorphError
from .model import MorphModel, default_model_dir
from .morph import finish_renders, prepare_source

#: Standard deviation of the Gaussian smoothing of variation noise along time, in ms (≈ 4 latent
#: frames at 44.1 kHz / hop 512: slow enough to change timbre and envelope, not to add hiss).
VARIATION_SMOOTHING_MS = 50.0
#: File of the latent prior statistics in a model folder (written by ``latentmorph fit-prior``).
PRIOR_FILE = "latent_prior.npz"
PRIOR_FORMAT_VERSION = 1


class PriorStatsError(LatentMorphError, ValueError):
    """The latent prior statistics are missing, unreadable or belong to another model."""

    code = "model_error"


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int, int], sigma_frames: float) -> np.ndarray:
    """Gaussian noise ``[count, frames, dim]`` smoothed along axis 1 by a Gaussian kernel of
    standard deviation ``sigma_frames`` (truncated at 4σ) whose taps are scaled to unit energy,
    so every sample still has unit variance; the kernel runs over extra noise beyond both ends,
    so the edges are as smooth and as strong as the middle. Returns float64."""
    count, frames, dim = shape
    radius = int(np.ceil(4.0 * sigma_frames))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / max(sigma_frames, 1e-9)) ** 2)
    taps /= np.sqrt(np.sum(taps**2))
    white = rng.standard_normal((count, frames + 2 * radius, dim))
    return sum(tap * white[:, k : k + frames] for k, tap in enumerate(taps))


def variation(model: MorphModel, audio: np.ndarray, amount: float, count: int, seed: int) -> np.ndarray:
    """Variations of one sound: ``z + amount · σ_d · ε`` decoded, where ``z [frames, latent_dim]``
    is the source's latent, ``σ_d`` its standard deviation over frames per dimension and ``ε``
    unit-variance noise smoothed over :data:`VARIATION_SMOOTHING_MS` (:func:`smooth_noise`).

    Args:
        model: loaded encoder/decoder pair.
        audio: mono float32 ``[samples]`` at ``model.sample_rate``.
        amount: 0 … 1; 0 gives the reconstruction (:func:`reconstruct`, limited and faded).
        count: number of variations ≥ 1.
        seed: seed of the noise; equal seeds give equal variations.

    Returns:
        float32 ``[count, samples]`` (the source's length) at the source's level, peak ≤ 1.

    Raises:
        MorphInputError: the source is silent. ``ValueError``: amount outside [0, 1], count < 1.
    """
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be in [0, 1], got {amount}")
    if count < 1:
        raise ValueError(f"count must be ≥ 1, got {count}")
    source = prepare_source(audio)
    z = model.encode(source.audio[None, :])[0].astype(np.float64)
    sigma_frames = VARIATION_SMOOTHING_MS * 1e-3 * model.sample_rate / model.hop_length
    noise = smooth_noise(np.random.default_rng(seed), (count, *z.shape), sigma_frames)
    decoded = model.decode((z + amount * z.std(axis=0) * noise).astype(np.float32))[:, : len(audio)]
    return finish_renders(decoded, np.full(count, 20.0 * np.log10(source.gain)), model.sample_rate)


@dataclasses.dataclass(frozen=True)
class LatentPrior:
    """A Gaussian over whole latent sequences of onset-trimmed clips (the aggregate posterior):
    ``z = mean + Σ_k std[k] · ε_k · components[k]`` with ``ε_k ~ N(0, 1)``, i.e. principal
    component analysis of the flattened sequences, truncated to the leading components.

    Attributes: ``model_id`` (the model whose encoder produced the latents); ``mean`` float32
    ``[frames, latent_dim]``; ``components`` float32 ``[n_components, frames, latent_dim]``,
    orthonormal when flattened; ``std`` float32 ``[n_components]`` (square roots of the
    eigenvalues); ``num_clips`` (clips it was fitted on); ``explained_variance`` (fraction of the
    total variance the components keep).
    """

    model_id: str
    mean: np.ndarray
    components: np.ndarray
    std: np.ndarray
    num_clips: int
    explained_variance: float

    @property
    def frames(self) -> int:
        """Latent frames covered: the longest sequence :func:`sample_prior` can draw."""
        return self.mean.shape[0]

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` (plain arrays and a JSON header, no pickle)."""
        header = {
            "format_version": PRIOR_FORMAT_VERSION,
            "model_id": self.model_id,
            "num_clips": self.num_clips,
            "explained_variance": self.explained_variance,
        }
        path = Path(path)
        with open(path, "wb") as f:  # a file object keeps numpy from appending ".npz"
            np.savez_compressed(
                f, header=np.array(json.dumps(header)), mean=self.mean, components=self.components, std=self.std
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LatentPrior":
        """Read a file written by :meth:`save`. Raises :class:`PriorStatsError` when it is missing,
        unreadable or of another format version."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                arrays = {k: data[k].astype(np.float32) for k in ("mean", "components", "std")}
        except FileNotFoundError as error:
            raise PriorStatsError(f"latent prior not found: {path} (write it with `latentmorph fit-prior`)") from error
        except (OSError, ValueError, KeyError) as error:
            raise PriorStatsError(f"cannot read latent prior {path}: {error}") from error
        if header.get("format_version") != PRIOR_FORMAT_VERSION:
            raise PriorStatsError(
                f"{path}: format version {header.get('format_version')}, this runtime reads {PRIOR_FORMAT_VERSION}"
            )
        return cls(
            header["model_id"],
            arrays["mean"],
            arrays["components"],
            arrays["std"],
            int(header["num_clips"]),
            float(header["explained_variance"]),
        )


def fit_latent_prior(
    model: MorphModel,
    clips: Iterable[np.ndarray],
    *,
    duration_s: float = 2.0,
    n_components: int = 64,
    batch_size: int = 16,
) -> LatentPrior:
    """Fit a :class:`LatentPrior` to encoded clips.

    Args:
        model: the model whose latents are modelled.
        clips: mono float32 ``[samples]`` arrays at ``model.sample_rate`` that start at their
            onset, like the training clips; each is peak-normalised, cut or zero-padded to
            ``duration_s`` and encoded.
        duration_s: length modelled, in seconds (the training clips are ≤ 2 s).
        n_components: principal components kept (64 keep ≈ 98.6 % of the variance of the
            default model's training latents).
        batch_size: clips encoded per encoder call.

    Raises:
        ValueError: fewer clips than ``n_components + 1``. MorphInputError: a silent clip.
    """
    num_samples = int(round(duration_s * model.sample_rate))
    sequences: list[np.ndarray] = []
    batch: list[np.ndarray] = []

    def flush() -> None:
        if batch:
            sequences.append(model.encode(np.stack(batch)).reshape(len(batch), -1).astype(np.float64))
            batch.clear()

    for i, clip in enumerate(clips):
        audio = prepare_source(clip, f"clip {i}").audio[:num_samples]
        batch.append(np.pad(audio, (0, num_samples - len(audio))))
        if len(batch) == batch_size:
            flush()
    flush()
    flat = np.concatenate(sequences) if sequences else np.zeros((0, 0))
    if len(flat) <= n_components:
        raise ValueError(f"need more than {n_components} clips to fit {n_components} components, got {len(flat)}")
    mean = flat.mean(axis=0)
    _, singular, vt = np.linalg.svd(flat - mean, full_matrices=False)
    variance = singular**2 / (len(flat) - 1)
    frames = model.pad_length(num_samples) // model.hop_length
    shape = (frames, model.latent_dim)
    return LatentPrior(
        model.model_id,
        mean.reshape(shape).astype(np.float32),
        vt[:n_components].reshape(n_components, *shape).astype(np.float32),
        np.sqrt(variance[:n_components]).astype(np.float32),
        len(flat),
        float(variance[:n_components].sum() / variance.sum()),
    )


def sample_prior(
    model: MorphModel,
    duration_s: float,
    count: int,
    seed: int,
    temperature: float = 1.0,
    prior: LatentPrior | str | Path | None = None,
) -> np.ndarray:
    """ "New sounds": latent sequences drawn from the Gaussian of the training latents, decoded.

    ``z ~ N(0, T²·I)`` per frame would be white noise in latent space and sounds like noise; the
    encoded training clips are neither centred nor unit-variance (the KL weight was 1e-3) and are
    strongly correlated in time. So ``z = mean + T · Σ_k std[k] · ε_k · components[k]`` of
    :class:`LatentPrior`, a Gaussian over whole onset-aligned sequences, which keeps the
    attack-decay shape and the smoothness of real sounds (temperature ``T`` scales the spread).

    Args:
        model: loaded encoder/decoder pair.
        duration_s: length of each sound in seconds, > 0 and ≤ the prior's span (2 s).
        count: number of sounds ≥ 1.
        seed: seed of ``ε``; equal seeds give equal sounds.
        temperature: ≥ 0; 0 gives the mean sequence.
        prior: statistics or the path of their file (default: ``latent_prior.npz`` in the
            shipped model folder or ``$LATENTMORPH_MODEL_DIR``).

    Returns:
        float32 ``[count, round(duration_s · sample_rate)]`` at ``model.sample_rate``, at the
        training level (peak ≈ 0.9), peak ≤ 1.

    Raises:
        PriorStatsError: the prior is missing, unreadable or of another model. ``ValueError``:
        duration, count or temperature out of range.
    """
    if not isinstance(prior, LatentPrior):
        prior = LatentPrior.load(prior if prior is not None else default_model_dir() / PRIOR_FILE)
    if prior.model_id != model.model_id:
        raise PriorStatsError(
            f"latent prior is of model {prior.model_id}, not {model.model_id}: refit it with `latentmorph fit-prior`"
        )
    max_duration_s = prior.frames * model.hop_length / model.sample_rate
    if not 0.0 < duration_s <= max_duration_s:
        raise ValueError(f"duration_s must be in (0, {max_duration_s:.2f}], got {duration_s}")
    if count < 1:
        raise ValueError(f"count must be ≥ 1, got {count}")
    if not temperature >= 0.0:
        raise ValueError(f"temperature must be ≥ 0, got {temperature}")
    num_samples = int(round(duration_s * model.sample_rate))
    frames = model.pad_length(num_samples) // model.hop_length
    coefficients = temperature * prior.std * np.random.default_rng(seed).standard_normal((count, len(prior.std)))
    z = prior.mean[:frames] + np.einsum("ck,kfd->cfd", coefficients, prior.components[:, :frames])
    decoded = model.decode(z.astype(np.float32))[:, :num_samples]
    return finish_renders(decoded, np.zeros(count), model.sample_rate)
