"""Choosing what to ship from similarity runs, on the validation split only.

``python -m latentmorph_train.similarity_select score CKPT... --data .data --views runs/similarity/views.npy``
prints, for each checkpoint and for the ensemble of all of them (:class:`.similarity.Ensemble`):
validation precision@10 and mAP (validation clips against the training and validation clips, the
query's recording left out, as in training and as ``latentmorph library-eval`` scores the held-out
sources), and three tag classifiers' validation accuracy — the trained head, a
prototype classifier (nearest normalised class mean of the training clips' embeddings,
:func:`class_prototypes`) and a 10-nearest-neighbour vote over the training clips. The held-out
sources are never read here: ``latentmorph library-eval`` scores the exported candidate on them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import typer

from .similarity import load_nets, validation_metrics
from .similarity_data import CATEGORIES, read_clips

#: Neighbours that vote in the k-NN tag classifier.
VOTE_K = 10
app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def main() -> None:
    """Choose what to ship from similarity runs, on the validation split."""


def class_prototypes(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float32 ``[len(CATEGORIES), D]``: the unit-length mean embedding of each class (zero rows for
    classes without clips) of ``embeddings [n, D]`` with class indices ``labels [n]``."""
    out = np.zeros((len(CATEGORIES), embeddings.shape[1]), np.float32)
    np.add.at(out, labels, embeddings)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def knn_vote(train: np.ndarray, train_labels: np.ndarray, queries: np.ndarray, k: int = VOTE_K) -> np.ndarray:
    """int ``[m]``: the class with the largest summed cosine among each query's ``k`` nearest rows of
    ``train`` (unit rows ``[n, D]``; queries unit ``[m, D]``)."""
    similarity = queries @ train.T
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    votes = np.zeros((len(queries), len(CATEGORIES)))
    np.add.at(
        votes, (np.arange(len(queries))[:, None], train_labels[nearest]), np.take_along_axis(similarity, nearest, 1)
    )
    return votes.argmax(axis=1)


def score(nets: torch.nn.Module, features: np.ndarray, labels: np.ndarray, groups: np.ndarray, train, valid) -> dict:
    """Validation scores of ``nets`` (module docstring) from view-0 ``features [clips, views, mels, frames]``."""
    metrics = validation_metrics(nets, features, labels, groups, train, valid)
    z_train, z = metrics["embeddings"][: len(train)], metrics["embeddings"][len(train) :]
    prototypes = class_prototypes(z_train, labels[train])
    return {
        "valid_precision_at_10": metrics["valid_precision_at_10"],
        "valid_map": metrics["valid_map"],
        "head_accuracy": metrics["head_accuracy"],
        "prototype_accuracy": float(((z @ prototypes.T).argmax(axis=1) == labels[valid]).mean()),
        "knn_accuracy": float((knn_vote(z_train, labels[train], z) == labels[valid]).mean()),
    }


@app.command("score")
def score_command(
    checkpoints: list[Path],
    data: Path = typer.Option(Path(".data")),
    views: Path = typer.Option(Path("runs/similarity/views.npy"), help="features of a training run"),
    threads: int = typer.Option(1),
) -> None:
    """Score each of CHECKPOINTS and their ensemble on the validation split (one JSON line each)."""
    torch.set_num_threads(threads)
    clips = read_clips(data)
    features = np.load(views, mmap_mode="r")
    labels = np.array([c.label for c in clips])
    groups = np.array([c.recording_key for c in clips])
    train = np.array([i for i, c in enumerate(clips) if c.split == "train"])
    valid = np.array([i for i, c in enumerate(clips) if c.split == "valid"])
    candidates = [[c] for c in checkpoints] + ([list(checkpoints)] if len(checkpoints) > 1 else [])
    for members in candidates:
        result = score(load_nets(members), features, labels, groups, train, valid)
        print(json.dumps({"checkpoints": [str(m) for m in members], **result}), flush=True)


if __name__ == "__main__":
    app()
