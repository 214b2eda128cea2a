"""The training clips of one split, in memory (:class:`ClipSet`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf


class ClipSet:
    """All clips of one split held in memory as float32 arrays at the model rate.

    ``data_dir/manifest.jsonl`` lines carry ``path`` (relative), ``split`` and ``sample_rate``.
    Raises ``FileNotFoundError`` without a manifest, ``ValueError`` when the split is empty or a
    clip's rate differs from ``sample_rate``.
    """

    def __init__(self, data_dir: Path, split: str, sample_rate: int, limit: int | None = None):
        manifest = data_dir / "manifest.jsonl"
        if not manifest.exists():
            raise FileNotFoundError(f"{manifest} not found: run `python -m latentmorph_train.data_prep prepare`")
        rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
        rows = sorted((r for r in rows if r["split"] == split), key=lambda r: r["id"])
        if limit is not None:
            rows = rows[:limit]
        if not rows:
            raise ValueError(f"no '{split}' clips in {manifest}")
        self.clips: list[np.ndarray] = []
        for row in rows:
            audio, rate = sf.read(data_dir / row["path"], dtype="float32", always_2d=True)
            if rate != sample_rate:
                raise ValueError(f"{row['path']}: {rate} Hz, expected {sample_rate} Hz")
            self.clips.append(audio.mean(axis=1))
        self.seconds = sum(len(c) for c in self.clips) / sample_rate

    def random_batch(self, rng: np.random.Generator, batch_size: int, segment_samples: int) -> np.ndarray:
        """``[batch_size, segment_samples]`` float32 crops: half start at the onset (clips are
        onset-trimmed), half at a random offset; short clips are zero-padded; gain −6..0 dB."""
        batch = np.zeros((batch_size, segment_samples), dtype=np.float32)
        for b in range(batch_size):
            clip = self.clips[rng.integers(len(self.clips))]
            start = 0
            if rng.random() < 0.5 and len(clip) > segment_samples:
                start = int(rng.integers(len(clip) - segment_samples))
            piece = clip[start : start + segment_samples]
            batch[b, : len(piece)] = piece * 10.0 ** (rng.uniform(-6.0, 0.0) / 20.0)
        return batch

    def fixed_batch(self, count: int, num_samples: int) -> np.ndarray:
        """The first ``count`` clips, each cut or zero-padded to ``num_samples``: ``[count, num_samples]``."""
        out = np.zeros((min(count, len(self.clips)), num_samples), dtype=np.float32)
        for i, clip in enumerate(self.clips[: len(out)]):
            out[i, : min(len(clip), num_samples)] = clip[:num_samples]
        return out
