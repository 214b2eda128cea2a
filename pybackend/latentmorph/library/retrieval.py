"""Retrieval evaluation: does a sound's neighbourhood share its category — on sources no model saw?

On the labelled clips of a data manifest (``.data/manifest.jsonl``: ``path``, ``split``,
``category``, ``recording_key``, ``source``), three embeddings are compared by the same code:

- ``similarity`` — the library's embedding (:mod:`.similarity_model`);
- ``vae`` — the VAE latent pooled (:mod:`.vae_embedding`; the library's embedding before issue 14);
- ``mfcc`` — MFCC statistics: mean and std over time of 20 MFCCs (``librosa.feature.mfcc``
  defaults: 2048-sample FFT, 512 hop, 128 mel bands), each dimension standardised over the clips.

Protocol. The *queries* are the clips of the held-out sources (:func:`is_held_out`, fixed before
the similarity model was trained: five Hydrogen kits, GM presets of every family in both
soundfonts, the ``oxygen`` UI sounds; headline) and, separately, the validation clips (used to
pick the checkpoint, so not a clean test). The *database* is every clip of the manifest: a
held-out preset is often its category's only recording among the held-out and validation clips,
so a smaller database would leave it nothing to find. Neighbours from the query's own recording
(same ``recording_key``: the same instrument at another note or velocity) are left out, so the
score is about the kind of sound, not the recording. (The VAE was trained on the training split,
which holds some of the held-out clips: its numbers are, if anything, flattered.)

Metrics: precision@k (the fraction of the ``k`` nearest by cosine that share the query's
category; Manning et al., *Introduction to Information Retrieval*, 2008, §8.4), overall and per
category; mean average precision over the whole ranking (ibid. §8.4); a confusion matrix (row:
query category, columns: categories of its ``k`` nearest, rows summing to 1); and the tag
classifier head's accuracy and per-class F1 on the held-out clips.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
from rich.progress import track

from ..audio import load_audio
from . import LibraryError
from .tags import evaluate_tags

N_MFCC = 20
#: Held-out test sources, fixed before the similarity model was trained (model card).
HELD_OUT_KITS = frozenset({"ForzeeStereo", "GMRockKit", "TR808EmulationKit", "HardElectro1", "Audiophob"})
#: Soundfont recording groups (presets sharing samples, keyed ``fluidr3:prog<lowest program>``) held
#: out: one per GM family (``p % 8 == 3``), Voice Oohs (53, vocal) and Calliope Lead's group (82, synth).
HELD_OUT_PROGRAMS = frozenset({p for p in range(128) if p % 8 == 3} | {53, 82})
HELD_OUT_SOURCES = frozenset({"oxygen"})
EMBEDDINGS = ("similarity", "vae", "mfcc")


def is_held_out(source: str, recording_key: str) -> bool:
    """Whether a clip of ``source`` with ``recording_key`` belongs to a held-out source."""
    if source in HELD_OUT_SOURCES:
        return True
    if source == "hydrogen":  # hydrogen:<kit>:<instrument>
        return recording_key.split(":")[1] in HELD_OUT_KITS
    prefix = "fluidr3:prog"
    return recording_key.startswith(prefix) and int(recording_key[len(prefix) :]) in HELD_OUT_PROGRAMS


@dataclass(frozen=True)
class Clip:
    """A labelled clip of the manifest (``path`` absolute); ``split`` is ``test`` for held-out
    sources, else the manifest's (``train`` | ``valid``)."""

    path: str
    split: str
    category: str
    recording_key: str
    source: str


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
                held_out = is_held_out(row["source"], row["recording_key"])
                clip = Clip(
                    os.path.abspath(Path(data_dir) / row["path"]),
                    "test" if held_out else row["split"],
                    row["category"],
                    row["recording_key"],
                    row["source"],
                )
            except (json.JSONDecodeError, KeyError, IndexError, ValueError) as error:
                raise LibraryError(f"{manifest}:{number}: not a manifest row ({error})") from error
            if os.path.isfile(clip.path):
                clips.append(clip)
    return clips


def rank_metrics(
    embeddings: np.ndarray, categories: list[str], groups: list[str], queries: np.ndarray, k: int = 10
) -> dict:
    """precision@k, average precision and the neighbours' categories of ``queries`` against all rows
    by cosine similarity, leaving out rows of the query's own group.

    Args:
        embeddings: float ``[N, D]`` (normalised here).
        categories, groups: ``N`` labels; a neighbour is relevant when its category equals the
            query's; rows in the query's group are never neighbours.
        queries: int indices of the query rows.
    Returns:
        ``{"precision_at_k": {"all", <category>…}, "map": {"all", <category>…},
        "confusion": {"labels": [...], "matrix": [[...]]}}``: means over queries (and over one
        category's queries); ``map`` counts a query with no relevant row as 0;
        ``confusion[i][j]`` is the fraction of the ``k`` nearest of queries of ``labels[i]``
        whose category is ``labels[j]``.
    """
    x = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    cats, groups_arr = np.asarray(categories), np.asarray(groups)
    similarity = x[queries] @ x.T
    excluded = groups_arr[queries][:, None] == groups_arr[None, :]
    similarity[excluded] = -np.inf
    order = np.argsort(-similarity, axis=1, kind="stable")
    relevant = (cats[order] == cats[queries][:, None]) & ~np.take_along_axis(excluded, order, axis=1)
    precision = relevant[:, :k].mean(axis=1)
    hits = np.cumsum(relevant, axis=1)
    ranks = np.arange(1, relevant.shape[1] + 1)
    average_precision = (relevant * hits / ranks).sum(axis=1) / np.maximum(relevant.sum(axis=1), 1)
    labels = sorted(set(cats[queries]) | set(cats[order[:, :k]].ravel()))
    index = {c: i for i, c in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)))
    for query_cat, row in zip(cats[queries], cats[order[:, :k]]):
        for c in row:
            confusion[index[query_cat], index[c]] += 1
    confusion /= np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    out: dict = {
        "precision_at_k": {"all": float(precision.mean())},
        "map": {"all": float(average_precision.mean())},
        "confusion": {"labels": labels, "matrix": confusion.round(4).tolist()},
    }
    for category in sorted(set(cats[queries])):
        mine = cats[queries] == category
        out["precision_at_k"][category] = float(precision[mine].mean())
        out["map"][category] = float(average_precision[mine].mean())
    return out


def mfcc_statistics(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """float32 ``[2 · N_MFCC]``: mean and std over frames of the MFCCs of ``audio``."""
    mfcc = librosa.feature.mfcc(y=audio, sr=sample_rate, n_mfcc=N_MFCC)
    return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]).astype(np.float32)


_models: tuple | None = None


def _init_worker() -> None:
    global _models
    from ..model import MorphModel
    from .similarity_model import SimilarityModel

    _models = (SimilarityModel.load(intra_op_threads=1), MorphModel.load(intra_op_threads=1))


def describe_clip(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(similarity embedding, class probabilities, VAE pooled latent, MFCC statistics)`` of one
    clip, with the models of this worker (:func:`_init_worker`)."""
    from .vae_embedding import latent_embedding

    if _models is None:
        raise RuntimeError("describe_clip runs in a worker started with _init_worker")
    similarity, vae = _models
    audio, rate = load_audio(path, similarity.sample_rate)
    embedding, probabilities = similarity.embed(audio)
    return embedding, probabilities, latent_embedding(vae, audio), mfcc_statistics(audio, rate)


def evaluate(data_dir: Path, *, k: int = 10, workers: int | None = None, progress: bool = True) -> dict:
    """The three embeddings on the held-out and validation clips (module docstring), and the tags.

    Returns:
        ``{"k", "database", "similarity_model", "queries": {"held_out": n, "valid": n},
        "held_out": {<embedding>: rank_metrics}, "valid": {...}, "tags": TagReport JSON}``.
    Raises:
        LibraryError: no manifest, or it has no held-out or validation clips.
    """
    from .similarity_model import get_similarity_model

    clips = read_manifest(data_dir)
    if not any(c.split == "test" for c in clips) or not any(c.split == "valid" for c in clips):
        raise LibraryError(f"the manifest in '{data_dir}' has no held-out or no validation clips")
    with ProcessPoolExecutor(workers or os.cpu_count(), initializer=_init_worker) as pool:
        described = list(
            track(
                pool.map(describe_clip, [c.path for c in clips], chunksize=16),
                total=len(clips),
                description="embedding clips",
                disable=not progress,
                transient=True,
            )
        )
    similarity, probabilities, vae, mfcc = (np.stack(column) for column in zip(*described))
    mfcc = (mfcc - mfcc.mean(axis=0)) / np.maximum(mfcc.std(axis=0), 1e-12)
    categories = [c.category for c in clips]
    groups = [c.recording_key for c in clips]
    model = get_similarity_model()
    out: dict = {"k": k, "database": len(clips), "similarity_model": model.model_id, "queries": {}}
    for name, split in (("held_out", "test"), ("valid", "valid")):
        queries = np.array([i for i, c in enumerate(clips) if c.split == split])
        out["queries"][name] = int(len(queries))
        out[name] = {
            embedding: rank_metrics(x, categories, groups, queries, k)
            for embedding, x in (("similarity", similarity), ("vae", vae), ("mfcc", mfcc))
        }
    held_out = [i for i, c in enumerate(clips) if c.split == "test"]
    predicted = [model.categories[j] for j in probabilities[held_out].argmax(axis=1)]
    out["tags"] = evaluate_tags([categories[i] for i in held_out], predicted).to_json()
    return out


def plot_confusion(result: dict, path: Path, split: str = "held_out") -> None:
    """One heat map per embedding of ``result[split]`` (:func:`evaluate`) side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(EMBEDDINGS), figsize=(7 * len(EMBEDDINGS), 6.4))
    for axis, name in zip(axes, EMBEDDINGS):
        confusion = result[split][name]["confusion"]
        labels, matrix = confusion["labels"], np.asarray(confusion["matrix"])
        axis.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
        axis.set_xticks(range(len(labels)), labels, rotation=90)
        axis.set_yticks(range(len(labels)), labels)
        axis.set_xlabel(f"category of the {result['k']} nearest")
        axis.set_ylabel("query category")
        precision = result[split][name]["precision_at_k"]["all"]
        axis.set_title(f"{name}: precision@{result['k']} {precision:.3f}")
        for i in range(len(labels)):
            axis.text(i, i, f"{matrix[i, i]:.2f}", ha="center", va="center", fontsize=7, color="w")
    figure.suptitle(f"{split.replace('_', '-')} queries ({result['queries'][split]}), own recording left out")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
