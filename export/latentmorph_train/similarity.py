"""The similarity embedding: a small CNN on log-mel, trained to put sounds of one kind together.

``python -m latentmorph_train.similarity train --data .data --run runs/similarity`` (resumes),
then ``… export runs/a/best.pt [runs/b/best.pt …] --out pybackend/latentmorph/models`` (several
checkpoints: one :class:`Ensemble`). ``latentmorph_train.similarity_select`` scores candidates on
the validation split.

Model (:class:`SimilarityNet`): the first ``WINDOW_SAMPLES`` (1.49 s at 44.1 kHz) → 64-band
log-mel (n_fft 2048, hop 1024, :class:`MelFeatures`), each clip normalised to its own peak and
floored 80 dB below it (so gain does not matter) → four blocks of 3×3 conv, batch norm, ReLU and
2×2 max-pooling (``CHANNELS``; the VGG-ish audio CNNs of Hershey et al. 2017, much smaller) → mean
over frequency, mean and max over time → (dropout in training) → linear → L2-normalised
``EMBEDDING_DIM`` vector. A linear classifier head on the (gradient-stopped) embedding gives the
category probabilities used for tags.

Regularisation (``regularise``, the default): each training view is augmented again in feature
space (:func:`.similarity_data.augment_features`: band shift, random EQ, SpecAugment masks), dropout ``DROPOUT``,
and the validated and saved weights are an exponential moving average of the optimised ones.

Loss: supervised contrastive (SupCon, Khosla et al. 2020, eq. 2, ``L_out``: positives are the
other views of the anchor's category in the batch, temperature ``TEMPERATURE``) + ``SELF_WEIGHT``
× the self-supervised NT-Xent of SimCLR (Chen et al. 2020: the only positive is the other view of
the same clip), each batch holding two augmented views of ``BATCH_CLIPS`` clips drawn with
class-balancing weights; plus cross-entropy of the head. Data: :mod:`.similarity_data`.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from pathlib import Path

import librosa
import numpy as np
import torch
import typer
from torch import nn
from torch.nn import functional as F

from latentmorph.library.retrieval import rank_metrics

from .similarity_data import CATEGORIES, augment_features, balanced_weights, precompute_views, read_clips

SAMPLE_RATE = 44100
N_FFT = 2048
HOP_LENGTH = 1024
N_MELS = 64
FRAMES = 64
WINDOW_SAMPLES = FRAMES * HOP_LENGTH
EMBEDDING_DIM = 128
CHANNELS = (12, 24, 48, 96)
#: Features are floored this far (natural log of magnitude: 80 dB) below the clip's peak.
FLOOR_LOG = math.log(1e-4)
TEMPERATURE = 0.1
SELF_WEIGHT = 0.5
BATCH_CLIPS = 96
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
#: Contract of the exported file (``metadata_props``), read by ``latentmorph.library.similarity_model``.
CONTRACT_VERSION = "1"
#: Precision@k of the validation metric.
VALID_K = 10
#: Dropout on the pooled features before the projection (training only).
DROPOUT = 0.2
#: Decay per step of the exponential moving average of the weights that is validated and saved
#: (at step t at most (1 + t) / (10 + t), so that early averages do not hold the initial weights).
EMA_DECAY = 0.99

app = typer.Typer(add_completion=False, no_args_is_help=True)


class MelFeatures(nn.Module):
    """STFT magnitude ``[batch, N_FFT/2 + 1, FRAMES]`` → features ``[batch, N_MELS, FRAMES]`` in [0, 1]:
    natural-log mel magnitude (librosa's Slaney mel filters from 20 Hz) minus the clip's maximum,
    floored at ``FLOOR_LOG``, mapped to 0…1. The ONNX graph starts here: the backend takes the
    STFT with NumPy (``np.fft.rfft``), which is ~20× faster than ONNX Runtime's ``STFT`` operator,
    and a DFT basis as a fixed convolution would make the file 17 MB."""

    def __init__(self):
        super().__init__()
        mel = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=20.0)
        self.register_buffer("mel", torch.tensor(mel, dtype=torch.float32))

    def forward(self, magnitude: torch.Tensor) -> torch.Tensor:
        x = torch.log(torch.matmul(self.mel, magnitude) + 1e-5)
        x = x - x.amax(dim=(1, 2), keepdim=True)
        return 1.0 - torch.clamp(x, min=FLOOR_LOG) / FLOOR_LOG


class STFTMagnitude(nn.Module):
    """audio ``[batch, samples]`` → magnitude ``[batch, N_FFT/2 + 1, samples // HOP_LENGTH]``
    with ``torch.stft`` (FFT): periodic Hann, ``(N_FFT − HOP_LENGTH)/2`` zeros each side — the
    framing of ``latentmorph.model.MorphModel.stft``, which the backend runs (checked by the export's
    parity test). ``latentmorph_train.features.STFTMagnitude`` frames the same way as a DFT
    convolution, 1 GMAC per clip and view here: too slow to precompute 44,000 views."""

    def __init__(self):
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        pad = (N_FFT - HOP_LENGTH) // 2
        spec = torch.stft(
            F.pad(audio, (pad, pad)), N_FFT, HOP_LENGTH, window=self.window, center=False, return_complex=True
        )
        return spec.abs()[..., : audio.shape[-1] // HOP_LENGTH]


def frontend() -> nn.Module:
    """audio float32 ``[batch, WINDOW_SAMPLES]`` → features ``[batch, N_MELS, FRAMES]``."""
    return nn.Sequential(STFTMagnitude(), MelFeatures())


class SimilarityNet(nn.Module):
    """Features ``[batch, N_MELS, frames]`` → (embedding ``[batch, EMBEDDING_DIM]`` unit length,
    class logits ``[batch, len(CATEGORIES)]``). See the module docstring."""

    def __init__(self, channels: tuple[int, ...] = CHANNELS, dim: int = EMBEDDING_DIM, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        blocks, previous = [], 1
        for c in channels:
            blocks += [nn.Conv2d(previous, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            previous = c
        self.body = nn.Sequential(*blocks)
        self.project = nn.Linear(2 * previous, dim)
        self.head = nn.Linear(dim, len(CATEGORIES))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.body(features[:, None]).mean(dim=2)  # [batch, channels, frames / 16]
        x = self.dropout(torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1))
        embedding = F.normalize(self.project(x), dim=1)
        return embedding, self.head(embedding.detach())


class Ensemble(nn.Module):
    """Nets trained apart, as one: embedding = their embeddings concatenated and divided by √K (unit
    length; the cosine of two sounds is the mean of the members' cosines), logits = the mean of
    their log-probabilities (softmax: the normalised geometric mean of their probabilities)."""

    def __init__(self, members: list[SimilarityNet]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [member(features) for member in self.members]
        embedding = torch.cat([z for z, _ in outputs], dim=1) / math.sqrt(len(outputs))
        return embedding, torch.stack([F.log_softmax(logits, dim=1) for _, logits in outputs]).mean(dim=0)


def load_nets(checkpoints: list[Path]) -> nn.Module:
    """The validated weights (``model``) of one checkpoint as a :class:`SimilarityNet` (its
    ``channels``, :data:`CHANNELS` when the checkpoint has none), of several as an :class:`Ensemble`."""
    nets = []
    for path in checkpoints:
        state = torch.load(path, weights_only=False)
        net = SimilarityNet(channels=tuple(state.get("channels", CHANNELS)))
        net.load_state_dict(state["model"])
        nets.append(net.eval())
    return nets[0] if len(nets) == 1 else Ensemble(nets).eval()


def contrastive_loss(z: torch.Tensor, positives: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Mean over anchors of ``−1/|P(i)| Σ_{p∈P(i)} log softmax_{a≠i}(z_i·z_a/τ)_p`` (SupCon ``L_out``,
    Khosla et al. 2020, eq. 2; with one positive per anchor it is SimCLR's NT-Xent).

    Args:
        z: float ``[n, d]`` unit vectors; positives: bool ``[n, n]`` (the diagonal is ignored).
    """
    n = z.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(eye, -1e9)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = positives & ~eye
    count = positives.sum(dim=1).clamp(min=1)
    return -((log_prob * positives).sum(dim=1) / count).mean()


def batch_loss(
    net: SimilarityNet, features: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, dict]:
    """Loss of ``features [2, clips, mels, frames]`` (two views per clip) with ``labels [clips]``;
    with a ``generator`` the views are augmented further (:func:`augment_features`)."""
    views, clips = features.shape[:2]
    flat = features.reshape(views * clips, *features.shape[2:])
    z, logits = net(flat if generator is None else augment_features(flat, generator))
    y = labels.repeat(views)
    clip_id = torch.arange(clips).repeat(views)
    supcon = contrastive_loss(z, y[:, None] == y[None, :])
    simclr = contrastive_loss(z, clip_id[:, None] == clip_id[None, :])
    ce = F.cross_entropy(logits, y)
    total = supcon + SELF_WEIGHT * simclr + ce
    return total, {"supcon": supcon.item(), "simclr": simclr.item(), "ce": ce.item()}


@torch.no_grad()
def embed_features(net: nn.Module, features: np.ndarray, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """``(embeddings float32 [n, EMBEDDING_DIM], probabilities float32 [n, classes])`` of features."""
    net.eval()
    out_z, out_p = [], []
    for i in range(0, len(features), batch):
        z, logits = net(torch.from_numpy(np.asarray(features[i : i + batch], dtype=np.float32)))
        out_z.append(z.numpy())
        out_p.append(torch.softmax(logits, dim=1).numpy())
    return np.concatenate(out_z), np.concatenate(out_p)


def validation_metrics(
    net: nn.Module, features: np.ndarray, labels: np.ndarray, groups: np.ndarray, train_rows, valid_rows
) -> dict:
    """Validation scores of ``net`` from the view-0 ``features [clips, views, mels, frames]``, as
    ``latentmorph library-eval`` scores the held-out sources: each validation clip queries the
    training and validation clips, its own recording (``groups``) left out.

    Returns:
        ``{"valid_precision_at_10", "valid_map", "head_accuracy", "embeddings": float32 [len(train_rows)
        + len(valid_rows), D] (training rows first), "probabilities"}`` (of the validation rows).
    """
    rows = np.concatenate([train_rows, valid_rows])
    z, p = embed_features(net, features[rows, 0])
    queries = np.arange(len(train_rows), len(rows))
    metrics = rank_metrics(z, list(labels[rows]), list(groups[rows]), queries, VALID_K)
    return {
        "valid_precision_at_10": metrics["precision_at_k"]["all"],
        "valid_map": metrics["map"]["all"],
        "head_accuracy": float((p[queries].argmax(axis=1) == labels[valid_rows]).mean()),
        "embeddings": z,
        "probabilities": p[queries],
    }


def _log(run: Path, record: dict) -> None:
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def train_model(
    data: Path,
    run: Path,
    *,
    max_steps: int,
    eval_every: int = 100,
    seed: int = 0,
    max_clips: int = 0,
    workers: int = 2,
    threads: int = 1,
    regularise: bool = True,
    channels: tuple[int, ...] = CHANNELS,
) -> dict:
    """Train (or resume) into ``run``: ``checkpoint.pt`` (last), ``best.pt`` (best validation
    precision@10 against the training and validation clips, the query's recording left out,
    :func:`validation_metrics`), ``metrics.jsonl``, ``views.npy`` (the features).
    Checkpoints hold the validated weights as ``model`` (with ``regularise``: the moving average,
    decay ``EMA_DECAY``) and the optimised ones as ``online``.

    Args:
        data: folder with ``manifest.jsonl``; max_clips: only the first N clips of each split (tests).
        workers: processes that make the views; threads: torch threads of the training.
        regularise: :func:`augment_features`, dropout ``DROPOUT`` and the weight average (issue 14's
            second run); without it, the first run's recipe.
        channels: of the four conv blocks (:class:`SimilarityNet`), saved in the checkpoints.
    Returns:
        the last validation record (``step``, ``valid_precision_at_10``, ``valid_accuracy``, ``best``,
        ``elapsed_s``); ``{}`` when the run had already reached ``max_steps``.
    """
    torch.set_num_threads(threads)
    run.mkdir(parents=True, exist_ok=True)
    clips = read_clips(data)
    if max_clips:
        clips = [c for s in ("train", "valid", "test") for c in [c for c in clips if c.split == s][:max_clips]]
    features = precompute_views(
        clips, frontend().eval(), SAMPLE_RATE, WINDOW_SAMPLES, run / "views.npy", workers=workers
    )
    labels = np.array([c.label for c in clips])
    groups = np.array([c.recording_key for c in clips])
    train_rows = np.array([i for i, c in enumerate(clips) if c.split == "train"])
    valid_rows = np.array([i for i, c in enumerate(clips) if c.split == "valid"])
    torch.manual_seed(seed)
    net = SimilarityNet(channels, dropout=DROPOUT if regularise else 0.0)
    average = SimilarityNet(channels)
    average.load_state_dict(net.state_dict())
    decay = EMA_DECAY if regularise else 0.0
    optimiser = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    step, best, elapsed = 0, -1.0, 0.0
    if (run / "checkpoint.pt").is_file():
        state = torch.load(run / "checkpoint.pt", weights_only=False)
        if tuple(state.get("channels", CHANNELS)) != tuple(channels):
            raise ValueError(f"{run} was trained with channels {state.get('channels', CHANNELS)}, not {channels}")
        net.load_state_dict(state.get("online", state["model"]))
        average.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        step, best, elapsed = state["step"], state["best"], state["elapsed_s"]
    rng = np.random.default_rng(seed + step)
    generator = torch.Generator().manual_seed(seed + step) if regularise else None
    weights = balanced_weights(labels[train_rows])
    views = features.shape[1]
    started = time.perf_counter() - elapsed
    record: dict = {}
    while step < max_steps:
        net.train()
        rows = rng.choice(train_rows, size=min(BATCH_CLIPS, len(train_rows)), replace=False, p=weights)
        pair = np.stack([rng.choice(views, size=2, replace=False) for _ in rows], axis=1)  # [2, clips]
        batch = torch.from_numpy(features[rows[None, :], pair].astype(np.float32))
        lr = LEARNING_RATE * 0.5 * (1.0 + math.cos(math.pi * step / max_steps))
        for group in optimiser.param_groups:
            group["lr"] = lr
        loss, parts = batch_loss(net, batch, torch.from_numpy(labels[rows]), generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():  # warm-up of the decay: the average never holds much of the initial weights
            weight = min(decay, (1.0 + step) / (10.0 + step))
            for kept, current in zip(average.state_dict().values(), net.state_dict().values()):
                kept.copy_(weight * kept + (1.0 - weight) * current if kept.is_floating_point() else current)
        step += 1
        if step % 10 == 0:
            _log(
                run, {"step": step, "loss": loss.item(), **parts, "lr": lr, "elapsed_s": time.perf_counter() - started}
            )
        if step % eval_every == 0 or step == max_steps:
            metrics = validation_metrics(average, features, labels, groups, train_rows, valid_rows)
            valid, accuracy = metrics["valid_precision_at_10"], metrics["head_accuracy"]
            state = {
                "model": average.state_dict(),
                "online": net.state_dict(),
                "optimiser": optimiser.state_dict(),
                "step": step,
                "best": max(best, valid),
                "elapsed_s": time.perf_counter() - started,
                "channels": list(channels),
            }
            if valid > best:
                best = valid
                torch.save(state, run / "best.pt")
            torch.save(state, run / "checkpoint.pt.tmp")
            (run / "checkpoint.pt.tmp").replace(run / "checkpoint.pt")
            record = {
                "step": step,
                "valid_precision_at_10": valid,
                "valid_accuracy": accuracy,
                "best": best,
                "elapsed_s": state["elapsed_s"],
            }
            _log(run, record)
    return record


@app.command()
def train(
    data: Path = typer.Option(Path(".data")),
    run: Path = typer.Option(Path("runs/similarity")),
    max_steps: int = typer.Option(1400),
    eval_every: int = typer.Option(100),
    seed: int = typer.Option(0),
    max_clips: int = typer.Option(0, help="use only the first N clips per split (tests)"),
    workers: int = typer.Option(2),
    threads: int = typer.Option(1),
    regularise: bool = typer.Option(True, help="feature augmentation, dropout, weight average"),
    channels: str = typer.Option(",".join(map(str, CHANNELS)), help="channels of the four conv blocks"),
) -> None:
    """Train (or resume) into RUN (:func:`train_model`)."""
    train_model(
        data,
        run,
        max_steps=max_steps,
        eval_every=eval_every,
        seed=seed,
        max_clips=max_clips,
        workers=workers,
        threads=threads,
        regularise=regularise,
        channels=tuple(int(c) for c in channels.split(",")),
    )


class ExportGraph(nn.Module):
    """magnitude ``[batch, N_FFT/2 + 1, FRAMES]`` → ``embedding [batch, D]``, ``probabilities
    [batch, classes]``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.features, self.net = MelFeatures(), net

    def forward(self, magnitude: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding, logits = self.net(self.features(magnitude))
        return embedding, torch.softmax(logits, dim=1)


def model_id_of(net: nn.Module) -> str:
    """``sim-`` + the first 16 hex digits of the SHA-256 of the weights (state dict order)."""
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return "sim-" + digest.hexdigest()[:16]


def export_onnx(net: nn.Module, path: Path, *, parity_audio: np.ndarray | None = None, tolerance: float = 1e-4) -> dict:
    """Write ``path`` (``similarity.onnx``) with the contract metadata if the backend's runtime
    (NumPy STFT + ONNX Runtime, ``latentmorph.library.similarity_model``) reproduces PyTorch
    (:func:`frontend` + the net) within ``tolerance`` (max |diff| of embedding and probabilities)
    on noise and on ``parity_audio`` (float32 ``[n, WINDOW_SAMPLES]``).

    Returns:
        ``{"model_id", "max_abs_diff", "bytes"}``.
    Raises:
        RuntimeError: parity fails (nothing is written).
    """
    import onnx

    from latentmorph.library.similarity_model import FILE_NAME, SimilarityModel

    net.eval()
    graph = ExportGraph(net).eval()
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal((4, WINDOW_SAMPLES))).astype(np.float32)
    if parity_audio is not None:
        audio = np.concatenate([audio, parity_audio.astype(np.float32)])
    example = torch.rand(2, N_FFT // 2 + 1, FRAMES)
    model_id = model_id_of(net)
    with torch.no_grad():
        z, logits = net(frontend()(torch.from_numpy(audio)))
        expected = [z.numpy(), torch.softmax(logits, dim=1).numpy()]
    meta = {
        "contract_version": CONTRACT_VERSION,
        "role": "similarity",
        "model_id": model_id,
        "sample_rate": str(SAMPLE_RATE),
        "n_fft": str(N_FFT),
        "hop_length": str(HOP_LENGTH),
        "frames": str(FRAMES),
        "embedding_dim": str(expected[0].shape[1]),
        "categories": json.dumps(CATEGORIES),
    }
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        written = Path(tmp) / FILE_NAME
        torch.onnx.export(
            graph,
            (example,),
            str(written),
            input_names=["magnitude"],
            output_names=["embedding", "probabilities"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={"magnitude": {0: "batch"}, "embedding": {0: "batch"}, "probabilities": {0: "batch"}},
        )
        proto = onnx.load(str(written))
        for key, value in meta.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(written))
        actual = SimilarityModel.load(tmp).run(audio)
        diff = max(float(np.abs(e - a).max()) for e, a in zip(expected, actual))
        if not diff <= tolerance:
            raise RuntimeError(f"ONNX Runtime differs from PyTorch by {diff:.2e} > {tolerance:.0e}")
        written.replace(path)
    return {"model_id": model_id, "max_abs_diff": diff, "bytes": path.stat().st_size}


@app.command("export")
def export_command(
    checkpoints: list[Path],
    out: Path = typer.Option(Path("pybackend/latentmorph/models")),
    parity_audio: list[Path] = typer.Option([], help="real audio for the parity check"),
) -> None:
    """Export CHECKPOINTS (``best.pt``; several: one :class:`Ensemble`) to ``OUT/similarity.onnx``
    after the parity check."""
    report = export_onnx(load_nets(checkpoints), out / "similarity.onnx", parity_audio=parity_windows(parity_audio))
    print(json.dumps(report))


def parity_windows(paths: list[Path]) -> np.ndarray | None:
    """float32 ``[len(paths), WINDOW_SAMPLES]``: the first window of each file (``None`` for none)."""
    from latentmorph.audio import load_audio

    from .similarity_data import fit_window

    audio = [fit_window(load_audio(p, SAMPLE_RATE)[0], WINDOW_SAMPLES) for p in paths]
    return np.stack(audio) if audio else None


if __name__ == "__main__":
    app()
