"""Retrieval evaluation: does a sound's neighbourhood share its category?

On the labelled clips of a data manifest (``.data/manifest.jsonl``: ``path``, ``split``,
``category``, ``recording_key``), ``precision@k`` is the fraction of a query's ``k`` nearest
neighbours that share its category, averaged over queries (Manning et al., *Introduction to
Information Retrieval*, 2008, §8.4). Two protocols:

- ``validation``: every validation clip queries the other validation clips. Neighbours may come
  from the query's own recording (the same instrument or drum at another note or velocity), as
  they would in a user's library.
- ``other_recordings``: every validation clip queries all clips (train and validation) but
  neighbours from its own recording (same ``recording_key``) are left out, so the score measures
  category, not recording, similarity — much harder.

Two embeddings are compared by the same code: the library's latent embedding (read from a library
database that indexes the clips) and a baseline of MFCC statistics (mean and std over time of 20
MFCCs, ``librosa.feature.mfcc`` defaults: 2048-sample FFT, 512 hop, 128 mel bands; each dimension
standardised over the clips, then cosine). The tag classifier is scored on the same split: fitted on
the training clips' categories, accuracy on the validation clips.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import librosa
import numpy as np
from rich.progress import track

from ..audio import load_audio
from . import LibraryError
from .indexer import index_paths
from .store import Library
from .tags import evaluate_split

N_MFCC = 20


@dataclass(frozen=True)
class Clip:
    """A labelled clip of the manifest (``path`` absolute)."""

    path: str
    split: str
    category: str
    recording_key: str


def read_manifest(data_dir: Path) -> list[Clip]:
    """The clips of ``data_dir/manifest.jsonl`` whose file exists.

    Raises:
        LibraryError: no manifest, or a line lacks a field.
    """
    manifest = Path(data_dir) / "manifest.jsonl"
    if not manifest.is_file():
        raise LibraryError(f"no manifest at '{manifest}': run `make data` first")
    clips = []
    with open(manifest) as f:
        for number, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                clip = Clip(os.path.abspath(Path(data_dir) / row["path"]), row["split"], row["category"],
                            row["recording_key"])
            except (json.JSONDecodeError, KeyError) as error:
                raise LibraryError(f"{manifest}:{number}: not a manifest row ({error})") from error
            if os.path.isfile(clip.path):
                clips.append(clip)
    return clips


def precision_at_k(embeddings: np.ndarray, categories: list[str], groups: list[str], queries: np.ndarray,
                   k: int = 10) -> dict[str, float]:
    """Mean precision@k of ``queries`` against all rows by cosine similarity, leaving out rows of the
    query's own group.

    Args:
        embeddings: float ``[N, D]`` (normalised here).
        categories, groups: ``N`` labels; a neighbour is relevant when its category equals the
            query's; rows in the query's group are never neighbours.
        queries: int indices of the query rows.
    Returns:
        ``{"all": mean over queries, <category>: mean over that category's queries}``.
    """
    x = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    categories_arr, groups_arr = np.asarray(categories), np.asarray(groups)
    similarity = x[queries] @ x.T
    similarity[groups_arr[queries][:, None] == groups_arr[None, :]] = -np.inf
    nearest = np.argpartition(-similarity, k, axis=1)[:, :k]
    precision = (categories_arr[nearest] == categories_arr[queries][:, None]).mean(axis=1)
    out = {"all": float(precision.mean())}
    for category in sorted(set(categories_arr[queries])):
        out[category] = float(precision[categories_arr[queries] == category].mean())
    return out


def mfcc_statistics(path: str, sample_rate: int) -> np.ndarray:
    """float32 ``[2 · N_MFCC]``: mean and std over frames of the file's MFCCs."""
    audio, rate = load_audio(path, sample_rate)
    mfcc = librosa.feature.mfcc(y=audio, sr=rate, n_mfcc=N_MFCC)
    return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]).astype(np.float32)


def file_embeddings(db_path: Path, paths: list[str]) -> np.ndarray:
    """float32 ``[len(paths), D]``: the whole-file item of each path.

    Raises:
        LibraryError: a path has no item (it failed to index).
    """
    with Library.open(db_path) as library:
        whole = {}
        for item in library.items():
            if item.start_s == 0.0 and item.path not in whole:  # the first item of a file is the whole file
                whole[item.path] = item.embedding
    missing = [p for p in paths if p not in whole]
    if missing:
        raise LibraryError(f"{len(missing)} clips are not in the index, e.g. '{missing[0]}'")
    return np.stack([whole[p] for p in paths])


def evaluate(data_dir: Path, db_path: Path, *, k: int = 10, workers: int | None = None,
             progress: bool = True) -> dict:
    """precision@k of the latent embedding and of the MFCC baseline, and the classifier accuracy.

    The clips are indexed into ``db_path`` first (incremental: a second run re-encodes nothing).

    Returns:
        ``{"k", "queries", "database", "latent": {"precision_at_k": {"validation": {...},
        "other_recordings": {...}}, "classifier_accuracy"}, "mfcc": {...}}``; each precision dict
        has ``"all"`` and one entry per category.
    """
    clips = read_manifest(data_dir)
    if not any(c.split == "valid" for c in clips):
        raise LibraryError(f"the manifest in '{data_dir}' has no validation clips")
    index_paths([Path(c.path) for c in clips], db_path, workers=workers, progress=progress)
    from ..model import get_model

    paths = [c.path for c in clips]
    latent = file_embeddings(db_path, paths)
    sample_rate = get_model().sample_rate
    with ProcessPoolExecutor(workers or os.cpu_count()) as pool:
        features = pool.map(partial(mfcc_statistics, sample_rate=sample_rate), paths, chunksize=32)
        mfcc = np.stack(list(track(features, total=len(paths), description="MFCC baseline",
                                   disable=not progress, transient=True)))
    mfcc = (mfcc - mfcc.mean(axis=0)) / np.maximum(mfcc.std(axis=0), 1e-12)
    categories = [c.category for c in clips]
    groups = [c.recording_key for c in clips]
    queries = np.array([i for i, c in enumerate(clips) if c.split == "valid"])
    train = np.array([i for i, c in enumerate(clips) if c.split != "valid"])
    valid_categories = [categories[i] for i in queries]
    out = {"k": k, "queries": int(len(queries)), "database": len(clips)}
    for name, x in (("latent", latent), ("mfcc", mfcc)):
        classifier = evaluate_split(x[train], [categories[i] for i in train], x[queries], valid_categories)
        out[name] = {"precision_at_k": {
            "validation": precision_at_k(x[queries], valid_categories, [str(i) for i in queries],
                                         np.arange(len(queries)), k),
            "other_recordings": precision_at_k(x, categories, groups, queries, k)},
            "classifier_accuracy": classifier.accuracy}
    return out
