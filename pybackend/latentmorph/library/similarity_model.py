"""The similarity embedding at run time (ONNX Runtime, no torch): audio → a unit vector whose
neighbours are sounds of the same kind, and category probabilities for tags.

``similarity.onnx`` (model card: "Similarity embedding"; trained by
``latentmorph_train.similarity``) takes the STFT magnitude of one window of ``window_samples``
(1.49 s at 44.1 kHz) — periodic Hann, ``n_fft``, hop ``hop_length``, ``(n_fft − hop) / 2`` zeros
each side, :func:`latentmorph.model.stft`, the framing of the VAE's decoder — and gives ``embedding [batch, embedding_dim]`` (L2-normalised) and ``probabilities
[batch, classes]`` (softmax over ``categories``).

A sound up to one window long is padded with zeros (as in training); a longer one (a loop, a
phrase) is cut into consecutive windows from its start, at most ``MAX_WINDOWS``, and its
embedding is the normalised mean of theirs, its probabilities their mean.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..model import ModelError, default_model_dir, stft

FILE_NAME = "similarity.onnx"
#: Metadata keys the runtime needs; ``contract_version`` must be in ``READABLE_CONTRACTS``.
REQUIRED_KEYS = (
    "contract_version",
    "role",
    "model_id",
    "sample_rate",
    "n_fft",
    "hop_length",
    "frames",
    "embedding_dim",
    "categories",
)
READABLE_CONTRACTS = ("1",)
#: A long sound is described by at most this many windows from its start (64 · 1.49 s = 95 s).
MAX_WINDOWS = 64


def model_path(model_dir: str | Path | None = None) -> Path:
    """``similarity.onnx`` in ``model_dir`` (default :func:`latentmorph.model.default_model_dir`),
    else the shipped one (a VAE folder from training need not carry its own)."""
    path = Path(model_dir if model_dir is not None else default_model_dir()) / FILE_NAME
    return path if path.is_file() else Path(str(resources.files("latentmorph") / "models" / FILE_NAME))


class SimilarityModel:
    """One ``similarity.onnx`` session. Attributes: ``model_id``, ``sample_rate`` (Hz), ``n_fft``,
    ``hop_length`` (samples), ``frames`` (per window), ``window_samples`` (``frames · hop_length``),
    ``embedding_dim``, ``categories`` (tuple of class names, the order of ``probabilities``)."""

    def __init__(self, session: ort.InferenceSession, meta: dict[str, str]):
        self._session = session
        self.model_id = meta["model_id"]
        self.sample_rate = int(meta["sample_rate"])
        self.n_fft = int(meta["n_fft"])
        self.hop_length = int(meta["hop_length"])
        self.frames = int(meta["frames"])
        self.window_samples = self.frames * self.hop_length
        self.embedding_dim = int(meta["embedding_dim"])
        self.categories = tuple(json.loads(meta["categories"]))

    @classmethod
    def load(cls, model_dir: str | Path | None = None, intra_op_threads: int = 0) -> "SimilarityModel":
        """Open :func:`model_path` (``model_dir``).

        Raises:
            ModelError: the file is missing or unreadable, lacks a metadata key, has another role or
                an unknown contract version.
        """
        path = model_path(model_dir)
        if not path.is_file():
            raise ModelError(f"similarity model not found: {path}")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = intra_op_threads
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
            raise ModelError(f"cannot load {path}: {error}") from error
        meta = session.get_modelmeta().custom_metadata_map
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if missing or meta.get("role") != "similarity":
            raise ModelError(
                f"{path}: not a similarity model (metadata lacks {missing} or role is {meta.get('role')!r})"
            )
        if meta["contract_version"] not in READABLE_CONTRACTS:
            raise ModelError(
                f"{path}: contract version {meta['contract_version']}, this runtime reads "
                f"{', '.join(READABLE_CONTRACTS)}"
            )
        return cls(session, meta)

    def windows(self, audio: np.ndarray) -> np.ndarray:
        """float32 ``[n, window_samples]``: consecutive windows of ``audio [samples]`` from its start
        (the last zero-padded), ``1 ≤ n ≤ MAX_WINDOWS``."""
        count = min(MAX_WINDOWS, max(1, -(-len(audio) // self.window_samples)))
        out = np.zeros(count * self.window_samples, np.float32)
        n = min(len(audio), len(out))
        out[:n] = audio[:n]
        return out.reshape(count, self.window_samples)

    def run(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(embedding float32 [n, embedding_dim], probabilities float32 [n, classes])`` of
        ``windows [n, window_samples]``."""
        magnitude = np.abs(stft(windows, self.n_fft, self.hop_length)).astype(np.float32)
        embedding, probabilities = self._session.run(None, {"magnitude": magnitude})
        return embedding, probabilities

    def embed(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(embedding float32 [embedding_dim] unit length, probabilities float32 [classes])`` of a
        mono sound at ``sample_rate`` (see the module docstring for long sounds)."""
        embedding, probabilities = self.run(self.windows(np.asarray(audio, dtype=np.float32)))
        mean = embedding.mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32), probabilities.mean(axis=0)


@functools.lru_cache(maxsize=4)
def get_similarity_model(model_dir: str | None = None) -> SimilarityModel:
    """The process-wide similarity model (loaded once per folder)."""
    return SimilarityModel.load(model_dir)
