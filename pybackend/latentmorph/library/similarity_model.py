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

ONNX Runtime is imported when a model is loaded, not with this module: a ``similar`` whose query
is already in the library compares stored vectors and needs only the model's id
(:func:`file_embedding_id`, read from the file's metadata without ONNX Runtime).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import settings

if TYPE_CHECKING:
    import onnxruntime as ort

FILE_NAME = "similarity.onnx"
#: How the model's window embeddings are combined (with the model id it names the embedding
#: space, :func:`embedding_id`). 1: windows from the sound's start, normalised mean.
WINDOWS_VERSION = 1
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
    """``similarity.onnx`` in ``model_dir`` (default: ``$LATENTMORPH_MODEL_DIR``,
    :func:`latentmorph.settings.model_dir`), else the shipped one (a VAE folder from training need
    not carry its own)."""
    shipped = Path(__file__).resolve().parents[1] / "models" / FILE_NAME  # importlib.resources: +10 ms
    folder = model_dir if model_dir is not None else settings.model_dir()
    path = Path(folder) / FILE_NAME if folder is not None else shipped
    return path if path.is_file() else shipped


def _varint(data: bytes, position: int) -> tuple[int, int]:
    """The protobuf varint at ``position`` and the position after it."""
    value = shift = 0
    while True:
        byte = data[position]
        value |= (byte & 0x7F) << shift
        position += 1
        if byte < 0x80:
            return value, position
        shift += 7


def _fields(data: bytes):
    """``(field number, value)`` of a protobuf message: ``int`` for varints, ``bytes`` otherwise."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        wire = key & 7
        if wire == 0:
            value, position = _varint(data, position)
            yield key >> 3, value
        elif wire == 2:
            length, position = _varint(data, position)
            yield key >> 3, data[position : position + length]
            position += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield key >> 3, data[position : position + size]
            position += size
        else:
            raise ValueError(f"protobuf wire type {wire} at byte {position}")


#: ``ModelProto.metadata_props`` and ``StringStringEntryProto.key`` / ``value`` (onnx.proto).
_METADATA_FIELD, _KEY_FIELD, _VALUE_FIELD = 14, 1, 2


def read_metadata(path: Path) -> dict[str, str]:
    """The ``metadata_props`` of the ONNX file at ``path`` (what ONNX Runtime's
    ``custom_metadata_map`` gives), read without ONNX Runtime.

    Raises:
        OSError: the file cannot be read. ValueError: it is not a protobuf message.
    """
    meta = {}
    try:
        for number, value in _fields(Path(path).read_bytes()):
            if number == _METADATA_FIELD and isinstance(value, bytes):
                entry = {n: v for n, v in _fields(value) if isinstance(v, bytes)}
                meta[entry.get(_KEY_FIELD, b"").decode()] = entry.get(_VALUE_FIELD, b"").decode()
    except (IndexError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not an ONNX model ({error})") from error
    return meta


def embedding_id(model_id: str) -> str:
    """Names the embedding space of a model (its ``model_id``) and of ``WINDOWS_VERSION``: vectors
    with different ids must not be compared."""
    return f"{model_id}/windows-v{WINDOWS_VERSION}"


def file_embedding_id(model_dir: str | Path | None = None) -> str | None:
    """:func:`embedding_id` of the model that :meth:`SimilarityModel.load` (``model_dir``) would
    open, from its file's metadata; ``None`` when it cannot be read (loading it reports why)."""
    try:
        model_id = read_metadata(model_path(model_dir)).get("model_id")
    except (OSError, ValueError):
        return None
    return embedding_id(model_id) if model_id else None


class SimilarityModel:
    """One ``similarity.onnx`` session. Attributes: ``model_id``, ``sample_rate`` (Hz), ``n_fft``,
    ``hop_length`` (samples), ``frames`` (per window), ``window_samples`` (``frames · hop_length``),
    ``embedding_dim``, ``categories`` (tuple of class names, the order of ``probabilities``),
    ``embedding_id`` (:func:`embedding_id`)."""

    def __init__(self, session: "ort.InferenceSession", meta: dict[str, str]):
        self._session = session
        self.model_id = meta["model_id"]
        self.embedding_id = embedding_id(self.model_id)
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
        import onnxruntime as ort

        from ..model import ModelError

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
        from ..model import stft

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
