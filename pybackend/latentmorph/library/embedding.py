"""Audio → one vector per sound with the similarity embedding: the whole file and, for long files,
onset segments, each with the classifier head's tag and its confidence.

The embedding is :class:`~.similarity_model.SimilarityModel` (a small CNN on log-mel trained with
supervised contrastive loss to put sounds of one kind together; model card, "Similarity
embedding"). It replaced pooled VAE latents (``lm-…/pooling-v2``), which are made for
reconstruction and morphing: on the held-out sources their precision@10 was far lower (see
``latentmorph library-eval``). A file and each segment are embedded on their own audio, so a
segment's vector does not depend on the file around it.
"""

from __future__ import annotations

import librosa
import numpy as np

from ..errors import LatentMorphError
from .similarity_model import SimilarityModel
from .store import Segment

#: Files longer than this are cut at onsets into segments (loops, stems, phrases).
SEGMENT_MIN_FILE_S = 3.0
#: A segment runs from one onset to the next, but at most this long (a one-shot inside a loop).
SEGMENT_MAX_S = 2.0
#: Onsets closer than this are merged (librosa's ``wait``).
SEGMENT_MIN_S = 0.1
#: At most this many segments per file, the ones with the strongest onsets.
MAX_SEGMENTS_PER_FILE = 64
#: Hop of the onset-strength envelope in samples (11.6 ms at 44.1 kHz).
ONSET_HOP = 512
#: A file whose peak is below this is recorded as a failure ("silent"), not embedded.
SILENCE_PEAK_DBFS = -90.0


class SilentAudioError(LatentMorphError, ValueError):
    """The audio has no sample above ``SILENCE_PEAK_DBFS``: there is no sound to describe."""

    code = "audio_load_error"


def onset_segments(audio: np.ndarray, sample_rate: int) -> list[tuple[int, int]]:
    """Sample spans ``[(start, stop), …]`` of the sounds in a long file, cut at onsets.

    Onsets come from ``librosa.onset.onset_detect`` (spectral-flux envelope, peak picking,
    backtracked to the preceding energy minimum) at a hop of ``ONSET_HOP`` samples. Each span runs
    to the next onset, at most ``SEGMENT_MAX_S``; the ``MAX_SEGMENTS_PER_FILE`` strongest onsets are
    kept. Files shorter than ``SEGMENT_MIN_FILE_S`` or with fewer than two onsets give no segments
    (the file item already describes them).
    """
    if len(audio) < SEGMENT_MIN_FILE_S * sample_rate:
        return []
    envelope = librosa.onset.onset_strength(y=audio, sr=sample_rate, hop_length=ONSET_HOP)
    wait = max(1, int(round(SEGMENT_MIN_S * sample_rate / ONSET_HOP)))
    onsets = librosa.onset.onset_detect(
        onset_envelope=envelope, sr=sample_rate, hop_length=ONSET_HOP, backtrack=True, wait=wait, units="frames"
    )
    frames = -(-len(audio) // ONSET_HOP)
    onsets = np.unique(onsets[onsets < frames])
    if len(onsets) < 2:
        return []
    if len(onsets) > MAX_SEGMENTS_PER_FILE:
        strength = envelope[np.minimum(onsets + 1, len(envelope) - 1)]
        onsets = np.sort(onsets[np.argsort(-strength, kind="stable")[:MAX_SEGMENTS_PER_FILE]])
    max_frames = int(round(SEGMENT_MAX_S * sample_rate / ONSET_HOP))
    stops = np.minimum(np.append(onsets[1:], frames), onsets + max_frames)
    return [(int(a) * ONSET_HOP, min(int(b) * ONSET_HOP, len(audio))) for a, b in zip(onsets, stops) if b > a]


def classifier_tag(model: SimilarityModel, probabilities: np.ndarray) -> tuple[str, float]:
    """The most probable category of ``probabilities [classes]`` and its probability (0–1)."""
    best = int(np.argmax(probabilities))
    return model.categories[best], float(probabilities[best])


def embed_audio(model: SimilarityModel, audio: np.ndarray, *, segments: bool = True) -> list[Segment]:
    """Embeddings of a sound: the whole of it first, then its onset segments (when ``segments``).

    Args:
        model: the similarity model; ``audio`` must be at ``model.sample_rate``.
        audio: float32 ``[samples]``, mono.
    Returns:
        ``[whole, *segments]``, tagged by the classifier head (``tag_source = "classifier"``, with
        ``tag_confidence``); times in seconds from the start of ``audio``; the whole item ends at
        ``len(audio) / sample_rate``; embeddings float32 ``[model.embedding_dim]``, unit length.
    Raises:
        SilentAudioError: peak below ``SILENCE_PEAK_DBFS``.
        ValueError: ``audio`` is not 1-D or is empty.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"audio must be a non-empty [samples] array, got shape {audio.shape}")
    peak = float(np.max(np.abs(audio)))
    if peak == 0.0:
        raise SilentAudioError("silent: every sample is 0")
    if peak <= 10 ** (SILENCE_PEAK_DBFS / 20):
        raise SilentAudioError(f"silent: peak {20 * np.log10(peak):.0f} dBFS")
    rate = model.sample_rate
    spans = [(0, len(audio))] + (onset_segments(audio, rate) if segments else [])
    out = []
    for start, stop in spans:
        embedding, probabilities = model.embed(audio[start:stop])
        tag, confidence = classifier_tag(model, probabilities)
        out.append(Segment(start / rate, stop / rate, tag, "classifier", embedding, confidence))
    return out
