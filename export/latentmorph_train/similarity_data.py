"""Data of the similarity embedding: the category taxonomy, the held-out sources, and augmented views.

Taxonomy: the ``category`` that data preparation writes to each manifest row (19 classes:
``kick snare hat cymbal tom perc bass keys guitar strings brass reed pipe synth pad bell fx vocal
other``), derived from the GM program families (8 programs each; overrides for e.g. timpani →
perc, choir → vocal, sitar/banjo/koto → guitar), the GM/GS drum map (35/36 kick, 38/40 snare,
42/44/46 hat, 49–59 cymbal, toms; the rest perc), Hydrogen instrument and file names (word
rules), and ``fx`` for UI-sound packages (see ``latentmorph_train.data_prep.categories``).

Held-out test sources: ``latentmorph.library.retrieval.is_held_out`` (five Hydrogen kits, GM
preset groups of every family in both soundfonts, the ``oxygen`` UI sounds), fixed before any
training and never used for tuning; their clips get the split ``test`` here and are never
trained on. ``latentmorph library-eval`` reports on them.

Views: each clip's audio (the first ``window_samples``) and ``VIEWS`` augmented versions whose
kind of sound is unchanged (:func:`augment`): gain ±6 dB, transposition ±3 semitones, EQ tilt
±6 dB, a short reverb, a time offset of −20…+50 ms and MP3-like band-limiting. They are turned
into log-mel features once (:func:`precompute_views`) so that training reads arrays only; in
training each view is augmented again in feature space (:func:`augment_features`).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pedalboard as pb
import soxr
import torch

from latentmorph.audio import load_audio
from latentmorph.library.retrieval import is_held_out

from .data_prep.categories import CATEGORIES  # the taxonomy; its order is the classifier head's class index

#: Augmented views per clip (besides the clip itself).
VIEWS = 3
#: Ranges of the augmentations (uniform).
GAIN_DB = 6.0
TRANSPOSE_SEMITONES = 3.0
TILT_DB = 6.0
OFFSET_S = (-0.020, 0.050)
REVERB_PROBABILITY = 0.5
MP3_PROBABILITY = 0.3
#: Feature-space augmentation of each training view (:func:`augment_features`): shift of the mel
#: bands (≈ 0.85 band per semitone above 1 kHz), amplitude of the random EQ curve (1 = 80 dB), and
#: the widest frequency / time mask (bands / frames; SpecAugment, Park et al. 2019).
SHIFT_BANDS = 3
EQ_AMPLITUDE = 0.08
MASK_BANDS = 8
MASK_FRAMES = 8


@dataclass(frozen=True)
class Clip:
    """A manifest row: absolute ``path``, class index ``label``, ``recording_key``, ``split``
    (``train`` | ``valid`` | ``test`` — held-out sources are ``test`` whatever the manifest says)."""

    path: str
    label: int
    recording_key: str
    split: str


def read_clips(data_dir: Path) -> list[Clip]:
    """The clips of ``data_dir/manifest.jsonl`` with their split (held-out sources → ``test``)."""
    clips = []
    with open(Path(data_dir) / "manifest.jsonl") as f:
        for line in f:
            row = json.loads(line)
            split = "test" if is_held_out(row["source"], row["recording_key"]) else row["split"]
            clips.append(
                Clip(
                    str(Path(data_dir) / row["path"]),
                    CATEGORIES.index(row["category"]),
                    row["recording_key"],
                    split,
                )
            )
    return clips


def augment(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One augmented version of ``audio`` (float32 ``[samples]``) that keeps its kind of sound.

    Transposition is varispeed (resampling by ``2^(s/12)`` with soxr, pitch and length together, as
    a sampler transposes): pedalboard's Rubber Band ``PitchShift`` costs ~80 ms per 1.5-s view
    here, 40× the rest of the chain. MP3-like band-limiting is LAME (``pedalboard.MP3Compressor``,
    VBR quality 2–9) with probability ``MP3_PROBABILITY``, else a low-pass at 6–16 kHz.
    """
    ratio = 2.0 ** (rng.uniform(-TRANSPOSE_SEMITONES, TRANSPOSE_SEMITONES) / 12.0)
    x = soxr.resample(audio, sample_rate * ratio, sample_rate).astype(np.float32)
    offset = int(rng.uniform(*OFFSET_S) * sample_rate)
    x = np.concatenate([np.zeros(offset, np.float32), x]) if offset > 0 else x[-offset:]
    tilt = rng.uniform(-TILT_DB, TILT_DB)
    chain = [pb.Gain(rng.uniform(-GAIN_DB, GAIN_DB)), pb.LowShelfFilter(250.0, tilt), pb.HighShelfFilter(4000.0, -tilt)]
    if rng.random() < REVERB_PROBABILITY:
        chain.append(
            pb.Reverb(
                room_size=rng.uniform(0.05, 0.3),
                damping=0.5,
                wet_level=rng.uniform(0.05, 0.25),
                dry_level=1.0,
                width=0.0,
            )
        )
    if rng.random() < MP3_PROBABILITY:
        chain.append(pb.MP3Compressor(vbr_quality=float(rng.uniform(2.0, 9.0))))
    else:
        chain.append(pb.LowpassFilter(rng.uniform(6000.0, 16000.0)))
    return pb.Pedalboard(chain)(x, sample_rate).astype(np.float32)


def fit_window(audio: np.ndarray, window_samples: int) -> np.ndarray:
    """The first ``window_samples`` of ``audio``, zero-padded at the end when shorter."""
    out = np.zeros(window_samples, np.float32)
    out[: min(len(audio), window_samples)] = audio[:window_samples]
    return out


def _views_of(args: tuple[str, int, int, int, int]) -> np.ndarray:
    """float32 ``[1 + views, window_samples]``: the clip, then its augmented versions."""
    path, sample_rate, window_samples, views, seed = args
    audio, _ = load_audio(path, sample_rate)
    rng = np.random.default_rng(seed)
    out = [fit_window(audio, window_samples)]
    out += [fit_window(augment(audio[: 2 * window_samples], sample_rate, rng), window_samples) for _ in range(views)]
    return np.stack(out)


def precompute_views(
    clips: list[Clip],
    frontend: torch.nn.Module,
    sample_rate: int,
    window_samples: int,
    out_path: Path,
    *,
    views: int = VIEWS,
    workers: int | None = None,
) -> np.ndarray:
    """Features of every clip and its views, cached in ``out_path`` (``.npy``; reused when present
    with the same shape).

    Args:
        frontend: audio float32 ``[batch, window_samples]`` → features ``[batch, mels, frames]``.
    Returns:
        float16 ``[len(clips), 1 + views, mels, frames]``; views of ``test`` clips are their
        unaugmented audio repeated (they are never trained on).
    """
    if out_path.is_file():
        cached = np.load(out_path, mmap_mode="r")
        if cached.shape[:2] == (len(clips), 1 + views):
            return np.asarray(cached)
    jobs = [(c.path, sample_rate, window_samples, 0 if c.split == "test" else views, i) for i, c in enumerate(clips)]
    result = None
    with ProcessPoolExecutor(workers or os.cpu_count()) as pool, torch.no_grad():
        for i, audio in enumerate(pool.map(_views_of, jobs, chunksize=16)):
            feats = frontend(torch.from_numpy(audio)).numpy().astype(np.float16)
            if result is None:
                result = np.zeros((len(clips), 1 + views, *feats.shape[1:]), np.float16)
            result[i] = feats[np.minimum(np.arange(1 + views), len(feats) - 1)]
            if i % 500 == 0:
                print(f"views {i}/{len(clips)}", flush=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(out_path, result)
    return result


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Sampling weight per clip ∝ 1/√(count of its class), summing to 1: rare classes (kick: 107
    clips) are drawn more often than their share, without repeating them as often as the common."""
    counts = np.bincount(labels, minlength=len(CATEGORIES)).astype(np.float64)
    w = 1.0 / np.sqrt(np.maximum(counts[labels], 1.0))
    return w / w.sum()


def augment_features(features: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Cheap augmentations of features ``[n, N_MELS, frames]`` in [0, 1] on top of the precomputed
    audio views, so that the few recordings of a category are not memorised: a shift of the mel
    bands by up to ±``SHIFT_BANDS`` (≈ ±3.5 semitones; vacated bands are floor), a random smooth EQ
    curve (three Gaussian bumps of up to ±``EQ_AMPLITUDE`` over the bands, on non-floor bins), and one
    frequency and one time mask (set to the floor) of up to ``MASK_BANDS`` / ``MASK_FRAMES``.
    Returns a new float32 tensor of the same shape, values in [0, 1]."""
    n, bands, frames = features.shape
    x = features.clone()
    shifts = torch.randint(-SHIFT_BANDS, SHIFT_BANDS + 1, (n,), generator=generator)
    for i, shift in enumerate(shifts.tolist()):
        if shift > 0:
            x[i, shift:], x[i, :shift] = features[i, :-shift], 0.0
        elif shift < 0:
            x[i, :shift], x[i, shift:] = features[i, -shift:], 0.0
    grid = torch.arange(bands, dtype=torch.float32)
    centres = torch.rand(n, 3, 1, generator=generator) * bands
    widths = 4.0 + torch.rand(n, 3, 1, generator=generator) * 12.0
    gains = (torch.rand(n, 3, 1, generator=generator) * 2.0 - 1.0) * EQ_AMPLITUDE
    curve = (gains * torch.exp(-0.5 * ((grid - centres) / widths) ** 2)).sum(dim=1)  # [n, bands]
    x = torch.where(x > 0, (x + curve[:, :, None]).clamp(0.0, 1.0), x)
    for size, axis, limit in ((bands, 1, MASK_BANDS), (frames, 2, MASK_FRAMES)):
        width = torch.randint(0, limit + 1, (n,), generator=generator)
        start = (torch.rand(n, generator=generator) * (size - width)).long()
        index = torch.arange(size)
        mask = (index[None, :] >= start[:, None]) & (index[None, :] < (start + width)[:, None])
        x = x.masked_fill(mask[:, :, None] if axis == 1 else mask[:, None, :], 0.0)
    return x
