"""ONNX Runtime sessions of an encoder/decoder pair, validated against the model contract.

The contract is written by ``export/latentmorph_train/onnx_export.py`` into each file's
``metadata_props``: ``contract_version``, ``role``, ``model_id``, ``sample_rate`` (Hz),
``hop_length`` (samples per latent frame), ``latent_dim``, and for the decoder ``n_fft`` and
``stft_hop_length`` (samples). The inverse STFT runs here in NumPy (:func:`istft`), which is
~1.7× faster on one core than the same overlap-add written as an ONNX ``ConvTranspose``
(contract 1). Contract 3 (current): the decoder graph ends at ``magnitude``, ``phase_increment``
and ``phase_sigma`` per bin and frame, and the phase is integrated here (:func:`integrate_phase`);
contract 2 (models up to ``lm-33b3aba2bfd553cc``, still read for comparisons): it ends at the
complex STFT (``real``, ``imag``) with an absolute phase per frame.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from . import settings
from .errors import LatentMorphError

#: Contract versions this runtime reads (see the module docstring; export/ writes 3).
READABLE_CONTRACTS = (2, 3)
#: Seed of the phase-advance draws of :func:`integrate_phase`: a decode is deterministic, and a
#: frame's draws do not depend on how many frames follow (the same latent prefix decodes alike).
PHASE_NOISE_SEED = 0
_REQUIRED_KEYS = ("contract_version", "role", "model_id", "sample_rate", "hop_length", "latent_dim")
_DECODER_KEYS = ("n_fft", "stft_hop_length")
#: Lower bound of the overlap-add window envelope (as in the training graph's iSTFT head).
ENVELOPE_FLOOR = 1e-3


class ModelError(LatentMorphError):
    """The model files are missing, unreadable or break the contract."""

    code = "model_error"


def default_model_dir() -> Path:
    """The shipped model (package data), or ``$LATENTMORPH_MODEL_DIR`` when set
    (:func:`latentmorph.settings.model_dir`)."""
    return settings.model_dir() or Path(str(resources.files("latentmorph") / "models"))


@functools.lru_cache(maxsize=8)
def _window_and_envelope(n_fft: int, hop_length: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann (torch.hann_window)
    envelope = np.zeros((frames - 1) * hop_length + n_fft, dtype=np.float32)
    for m in range(frames):
        envelope[m * hop_length : m * hop_length + n_fft] += window * window
    return window, np.maximum(envelope, ENVELOPE_FLOOR)


def istft(real: np.ndarray, imag: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """Inverse STFT by weighted overlap-add, the NumPy twin of the training graph's iSTFT head.

    ``x[n] = Σ_m w[n − mH] y_m[n − mH] / max(Σ_m w²[n − mH], 1e-3)`` with ``y_m`` the inverse real
    DFT of frame ``m`` and ``w`` the periodic Hann window (Griffin & Lim 1984, eq. 6); then
    ``(n_fft − hop_length) / 2`` samples are trimmed from each end, so the output has
    ``frames · hop_length`` samples, frame ``m`` centred on sample ``m·H + H/2``.

    Args:
        real, imag: float32 ``[batch, n_fft // 2 + 1, frames]``.
        n_fft, hop_length: samples; ``n_fft`` a multiple of ``hop_length``.

    Returns:
        float32 ``[batch, frames * hop_length]``.

    Raises:
        ValueError: shapes disagree with ``n_fft`` or with each other.
    """
    if real.shape != imag.shape or real.ndim != 3 or real.shape[1] != n_fft // 2 + 1:
        raise ValueError(f"real/imag must both be [batch, {n_fft // 2 + 1}, frames], got {real.shape}, {imag.shape}")
    if n_fft % hop_length:
        raise ValueError(f"n_fft {n_fft} must be a multiple of hop_length {hop_length}")
    batch, _, frames = real.shape
    window, envelope = _window_and_envelope(n_fft, hop_length, frames)
    spectrum = np.empty((batch, frames, n_fft // 2 + 1), dtype=np.complex64)  # contiguous: 2× faster irfft
    spectrum.real = real.transpose(0, 2, 1)
    spectrum.imag = imag.transpose(0, 2, 1)
    blocks = np.fft.irfft(spectrum, n=n_fft, axis=-1)
    blocks *= window
    overlap = n_fft // hop_length
    blocks = blocks.reshape(batch, frames, overlap, hop_length)
    out = np.zeros((batch, frames + overlap - 1, hop_length), dtype=np.float32)
    for j in range(overlap):  # block j of frame m lands at hop index m + j
        out[:, j : j + frames] += blocks[:, :, j]
    out = out.reshape(batch, -1) / envelope
    pad = (n_fft - hop_length) // 2
    return np.ascontiguousarray(out[:, pad : out.shape[1] - pad])


@functools.lru_cache(maxsize=4)
def phase_noise(bins: int, frames: int) -> np.ndarray:
    """Standard normal ``[bins, frames]`` float32 from :data:`PHASE_NOISE_SEED`, drawn frame by
    frame (so a shorter decode gets a prefix of a longer one's draws); a read-only, shared view
    (frame-major in memory, as :func:`integrate_phase` reads it)."""
    noise = np.random.default_rng(PHASE_NOISE_SEED).standard_normal((frames, bins), dtype=np.float32)
    noise.flags.writeable = False
    return noise.T


def integrate_phase(magnitude: np.ndarray, increment: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Complex STFT from a contract-3 decoder's outputs: ``φ = cumsum(increment + σ·ε)`` along
    frames (:func:`_cumulative_phase`, < 1e-4 rad however long), ``ε`` the fixed draws of
    :func:`phase_noise` (the same for every batch row),
    then ``magnitude · e^{iφ}`` — the NumPy twin of ``latentmorph_train.features.integrate_phase``
    (design: GANSynth's instantaneous frequency, Engel et al. 2019).

    Args:
        magnitude, increment, sigma: float32 ``[batch, bins, frames]`` (radians per frame for the
            latter two; ``increment[..., 0]`` is the start phase, ``sigma[..., 0]`` is 0).

    Returns:
        ``(real, imag)``, float32 ``[batch, bins, frames]`` each (views of frame-major arrays,
        the layout :func:`istft` reads fastest).
    """
    frame_major = (0, 2, 1)  # [batch, frames, bins]: the frame recursion runs over whole rows
    step = np.ascontiguousarray(increment.transpose(frame_major))
    step += sigma.transpose(frame_major) * phase_noise(magnitude.shape[1], magnitude.shape[2]).T
    phase = _cumulative_phase(step)
    magnitude = magnitude.transpose(frame_major)
    return (magnitude * np.cos(phase)).transpose(frame_major), (magnitude * np.sin(phase)).transpose(frame_major)


#: Frames summed in float32 by :func:`_cumulative_phase` before the running total is carried on
#: in float64 (32 frames of at most ~π each stay within float32's 1e-5 rad per step).
PHASE_BLOCK_FRAMES = 32


def _cumulative_phase(step: np.ndarray) -> np.ndarray:
    """``cumsum(step, axis=1)`` of float32 ``[batch, frames, bins]`` radians, as float32 with
    < 1e-4 rad error however long, in [0, 2π + 32π): float32 sums within blocks of
    :data:`PHASE_BLOCK_FRAMES` frames on top of the blocks' running totals, which are carried in
    float64 and wrapped to [0, 2π) (a float64 cumsum of every frame and its wrap cost ~3× more in
    NumPy, and a float32 one drifts by 1e-3 rad after minutes)."""
    batch, frames, bins = step.shape
    blocks = -(-frames // PHASE_BLOCK_FRAMES)
    padded = np.zeros((batch, blocks * PHASE_BLOCK_FRAMES, bins), dtype=np.float32)
    padded[:, :frames] = step
    within = np.cumsum(padded.reshape(batch, blocks, PHASE_BLOCK_FRAMES, bins), axis=2)
    totals = within[:, :, -1]
    carried = np.cumsum(totals.astype(np.float64), axis=1) - totals
    within += np.remainder(carried, 2.0 * np.pi).astype(np.float32)[:, :, None]
    return within.reshape(batch, -1, bins)[:, :frames]


#: Where Linux shows an NVIDIA driver. Without one the CUDA provider is not asked for:
#: onnxruntime-gpu lists it as available on every machine, and asking for it where its libraries
#: cannot load makes onnxruntime log an error for each session before it falls back to the CPU.
NVIDIA_DRIVER_PATHS = ("/proc/driver/nvidia/version", "/dev/nvidiactl")


@functools.cache
def session_providers() -> tuple[str, ...]:
    """Execution providers for the encoder and decoder sessions, in order of preference.

    ``("CUDAExecutionProvider", "CPUExecutionProvider")`` when onnxruntime has the CUDA provider
    (the ``onnxruntime-gpu`` package, which LatentMorph installs on Linux x86-64) and an NVIDIA
    driver is present (:data:`NVIDIA_DRIVER_PATHS`); then CUDA and cuDNN libraries installed as
    wheels (``pip install -e '.[gpu]'``) are loaded first (``onnxruntime.preload_dlls``,
    onnxruntime ≥ 1.21). Otherwise ``("CPUExecutionProvider",)``. Which provider a session really
    got is its ``get_providers()`` (:attr:`MorphModel.providers`). Decided once per process.
    """
    has_cuda_provider = "CUDAExecutionProvider" in ort.get_available_providers()
    if not has_cuda_provider or not any(Path(path).exists() for path in NVIDIA_DRIVER_PATHS):
        return ("CPUExecutionProvider",)
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()
        except Exception:  # libraries from the system's CUDA install are found without it
            pass
    return ("CUDAExecutionProvider", "CPUExecutionProvider")


class MorphModel:
    """An encoder and a decoder session sharing one contract.

    Attributes: ``model_id`` (str), ``sample_rate`` (Hz), ``hop_length`` (samples per latent
    frame), ``latent_dim`` (int), ``providers`` (the execution providers in use).
    """

    def __init__(self, encoder: ort.InferenceSession, decoder: ort.InferenceSession, meta: dict[str, str]):
        self._encoder, self._decoder = encoder, decoder
        self.model_id = meta["model_id"]
        self.sample_rate = int(meta["sample_rate"])
        self.hop_length = int(meta["hop_length"])
        self.latent_dim = int(meta["latent_dim"])
        self.n_fft = int(meta["n_fft"])
        self.stft_hop_length = int(meta["stft_hop_length"])
        self.contract_version = int(meta["contract_version"])
        self.providers = encoder.get_providers()

    @classmethod
    def load(cls, model_dir: str | Path | None = None, intra_op_threads: int = 0) -> "MorphModel":
        """Open ``encoder.onnx`` and ``decoder.onnx`` in ``model_dir`` (default: the shipped model).

        Raises:
            ModelError: a file is missing or unreadable, a metadata key is missing, the contract
                version is not in ``READABLE_CONTRACTS``, roles are wrong, or the two files disagree on
                model id, sample rate, hop length or latent dimension.
        """
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = intra_op_threads
        sessions, metas = {}, {}
        for role in ("encoder", "decoder"):
            path = model_dir / f"{role}.onnx"
            if not path.is_file():
                raise ModelError(f"model file not found: {path}")
            try:
                session = ort.InferenceSession(str(path), options, providers=list(session_providers()))
            except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
                raise ModelError(f"cannot load {path}: {error}") from error
            meta = session.get_modelmeta().custom_metadata_map
            missing = [k for k in _REQUIRED_KEYS + (_DECODER_KEYS if role == "decoder" else ()) if k not in meta]
            if missing:
                raise ModelError(f"{path}: metadata lacks {missing} (not a LatentMorph model?)")
            if meta["contract_version"] not in {str(v) for v in READABLE_CONTRACTS}:
                raise ModelError(
                    f"{path}: contract version {meta['contract_version']}, this runtime "
                    f"reads versions {', '.join(map(str, READABLE_CONTRACTS))}"
                )
            if meta["role"] != role:
                raise ModelError(f"{path}: role is '{meta['role']}', expected '{role}'")
            sessions[role], metas[role] = session, meta
        for key in ("model_id", "sample_rate", "hop_length", "latent_dim"):
            if metas["encoder"][key] != metas["decoder"][key]:
                raise ModelError(
                    f"{model_dir}: encoder and decoder disagree on {key} "
                    f"({metas['encoder'][key]} vs {metas['decoder'][key]})"
                )
        return cls(sessions["encoder"], sessions["decoder"], metas["decoder"])

    def pad_length(self, num_samples: int) -> int:
        """Smallest multiple of ``hop_length`` ≥ ``num_samples`` (and ≥ one frame)."""
        return max(1, -(-num_samples // self.hop_length)) * self.hop_length

    def encode(self, audio: np.ndarray) -> np.ndarray:
        """``audio [batch, samples]`` float32 at ``sample_rate`` → latent mean
        ``[batch, ceil(samples / hop_length), latent_dim]``; audio is zero-padded to whole frames."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2:
            raise ValueError(f"audio must be [batch, samples], got shape {audio.shape}")
        padded = np.zeros((audio.shape[0], self.pad_length(audio.shape[1])), dtype=np.float32)
        padded[:, : audio.shape[1]] = audio
        z_mean, _ = self._encoder.run(None, {"audio": padded})
        return z_mean

    def decode(self, z: np.ndarray, phase_increment: np.ndarray | None = None) -> np.ndarray:
        """``z [batch, frames, latent_dim]`` float32 → ``audio [batch, frames * hop_length]`` float32:
        the decoder graph's outputs (phase integrated by :func:`integrate_phase` for contract 3),
        inverted by :func:`istft`. Deterministic.

        ``phase_increment`` (contract 3 only): float32 ``[batch, n_fft//2+1, frames · hop_length /
        stft_hop_length]`` radians per STFT frame (frame 0: the start phase) used instead of the
        model's own — drawn spread included — wherever it is finite (NaN: the model's own); see
        :func:`latentmorph.morph.source_phase_increment`.

        Raises ``ValueError`` on a bad shape, or a ``phase_increment`` for a contract-2 model."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 3 or z.shape[2] != self.latent_dim:
            raise ValueError(f"z must be [batch, frames, {self.latent_dim}], got shape {z.shape}")
        outputs = self._decoder.run(None, {"z": z})
        if self.contract_version == 2:
            if phase_increment is not None:
                raise ValueError("a contract-2 model makes its own absolute phase: no phase_increment")
            real, imag = outputs
            return istft(real, imag, self.n_fft, self.stft_hop_length)
        magnitude, increment, sigma = outputs
        if phase_increment is not None:
            if phase_increment.shape != increment.shape:
                raise ValueError(f"phase_increment must be {increment.shape}, got {phase_increment.shape}")
            given = np.isfinite(phase_increment)
            increment = np.where(given, phase_increment, increment).astype(np.float32)
            sigma = np.where(given, 0.0, sigma).astype(np.float32)
        return istft(*integrate_phase(magnitude, increment, sigma), self.n_fft, self.stft_hop_length)

    def stft(self, audio: np.ndarray) -> np.ndarray:
        """Complex STFT of ``audio [batch, samples]`` in the decoder's framing (:func:`stft` with
        ``n_fft`` and ``stft_hop_length``), so that :func:`istft` inverts it."""
        return stft(audio, self.n_fft, self.stft_hop_length)


def stft(audio: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """Complex STFT of ``audio [batch, samples]`` (``samples`` a multiple of ``hop_length``):
    periodic Hann, ``(n_fft − hop) / 2`` samples of zero padding each side, frame ``m`` centred on
    sample ``m·H + H/2``: complex64 ``[batch, n_fft//2+1, samples / hop_length]``. The NumPy twin of
    ``latentmorph_train.features.STFTMagnitude.complex``; the similarity model's features use it too."""
    audio = np.asarray(audio, dtype=np.float32)
    pad = (n_fft - hop_length) // 2
    padded = np.pad(audio, ((0, 0), (pad, pad)))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=1)[:, ::hop_length][
        :, : audio.shape[1] // hop_length
    ]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    return np.fft.rfft(frames * window, axis=-1).transpose(0, 2, 1).astype(np.complex64)


@functools.lru_cache(maxsize=4)
def get_model(model_dir: str | None = None) -> MorphModel:
    """Process-wide cache of loaded models (one session pair per model dir)."""
    return MorphModel.load(model_dir)
