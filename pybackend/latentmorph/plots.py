"""Pictures: spectrograms of morph steps and of rendered phrases (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import librosa
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

N_FFT = 2048
HOP_LENGTH = 256
N_MELS = 128
TOP_DB = 80.0


def _mel_power(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Power mel spectrogram ``[N_MELS, frames]`` of mono ``audio`` up to Nyquist."""
    return librosa.feature.melspectrogram(
        y=audio, sr=sample_rate, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, fmax=sample_rate / 2
    )


def _mel_db(audio: np.ndarray, sample_rate: int, ref: float | Callable[[np.ndarray], float]) -> np.ndarray:
    return librosa.power_to_db(_mel_power(audio, sample_rate), ref=ref, top_db=TOP_DB)


def _save(fig, path: Path, dpi: int, title: str = "") -> Path:
    """Title (if any), tight layout, write ``path`` and close the figure."""
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _show_mel_db(ax, db: np.ndarray, duration_s: float) -> None:
    """Draw a mel spectrogram in dB ``[N_MELS, frames]`` (0 … −TOP_DB) on ``ax``, time in seconds."""
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=-TOP_DB, vmax=0, extent=(0, duration_s, 0, N_MELS))


def save_grid_spectrograms(grid: np.ndarray, sample_rate: int, path: Path, title: str = "") -> Path:
    """Mel spectrograms (dB, shared reference) of the grid steps ``[steps, samples]`` side by
    side, labelled with t; written to ``path`` (PNG)."""
    steps = grid.shape[0]
    mels = [_mel_power(g, sample_rate) for g in grid]
    ref = max(float(m.max()) for m in mels) or 1.0
    fig, axes_grid = plt.subplots(1, steps, figsize=(1.6 * steps + 1, 3.4), sharey=True, squeeze=False)
    axes = list(axes_grid[0])
    for i, (ax, mel) in enumerate(zip(axes, mels)):
        db = librosa.power_to_db(mel, ref=ref, top_db=TOP_DB)
        _show_mel_db(ax, db, grid.shape[1] / sample_rate)
        ax.set_title(f"t = {i / (steps - 1):.2f}", fontsize=9)
        ax.set_xlabel("s", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("mel band")
    return _save(fig, path, 110, title)


def save_spectrogram(
    audio: np.ndarray, sample_rate: int, path: Path, title: str = "", markers: list[tuple[float, str]] | None = None
) -> Path:
    """One mel spectrogram (dB re. its loudest bin) with optional labelled time markers (s)."""
    db = _mel_db(audio, sample_rate, ref=np.max)
    fig, ax = plt.subplots(figsize=(12, 4))
    _show_mel_db(ax, db, len(audio) / sample_rate)
    for time_s, label in markers or []:
        ax.axvline(time_s, color="white", lw=0.6, alpha=0.6)
        ax.text(time_s, N_MELS * 0.97, label, color="white", fontsize=7, va="top")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    ax.set_title(title)
    return _save(fig, path, 110)


def save_spectrogram_grid(
    cells: dict[tuple[int, int], np.ndarray],
    row_labels: list[str],
    col_labels: list[str],
    sample_rate: int,
    path: Path,
    title: str = "",
) -> Path:
    """A contact sheet: mel spectrograms (dB, shared reference: the loudest bin of all) of mono
    clips ``cells[(row, column)] [samples]`` in a grid labelled by ``row_labels`` × ``col_labels``
    (an empty cell stays blank); written to ``path`` (PNG)."""
    rows, cols = len(row_labels), len(col_labels)
    mels = {cell: _mel_power(audio, sample_rate) for cell, audio in cells.items()}
    ref = max((float(m.max()) for m in mels.values()), default=1.0) or 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols + 1.5, 1.1 * rows + 0.8), squeeze=False)
    for (row, col), ax in np.ndenumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if (row, col) in mels:
            ax.imshow(
                librosa.power_to_db(mels[row, col], ref=ref, top_db=TOP_DB),
                origin="lower",
                aspect="auto",
                cmap="magma",
                vmin=-TOP_DB,
                vmax=0,
            )
        if row == 0:
            ax.set_title(col_labels[col], fontsize=8)
        if col == 0:
            ax.set_ylabel(row_labels[row], fontsize=7, rotation=0, ha="right", va="center")
    return _save(fig, path, 90, title)
