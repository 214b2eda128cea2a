"""Training CLI: ``python -m latentmorph_train.train CONFIG --data DATA_DIR --run RUN_DIR``.

Reads the clip manifest written by :mod:`latentmorph_train.data_prep`, trains the VAE on random crops
with multi-resolution STFT loss + β·KL (β warmed up linearly), validates on a fixed set of
validation clips, checkpoints atomically every ``checkpoint_every`` steps and resumes from
``RUN_DIR/checkpoint.pt`` when it exists. Metrics go to ``RUN_DIR/metrics.jsonl``.

``--init-from MODEL_DIR --init-step N`` starts a new run (no checkpoint yet) from the weights of an
exported ONNX model instead of random ones, at step ``N`` of the learning-rate schedule, with a
fresh optimiser — how a shipped model is trained further once its checkpoint is gone
(:func:`latentmorph_train.weights.model_from_onnx` recovers the weights bit-exactly).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from .config import TrainConfig, load_config
from .dataset import ClipSet
from .features import STFTMagnitude
from .losses import head_losses, kl_divergence, multi_resolution_stft_loss
from .model import LatentMorphVAE
from .weights import model_from_onnx, model_id_of

console = Console(stderr=True)
app = typer.Typer(add_completion=False, help=__doc__)


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


@torch.no_grad()
def validate(model: LatentMorphVAE, batch: torch.Tensor, chunk: int = 8) -> float:
    """Mean multi-resolution STFT distance of the reconstructions (eval mode, latent mean)."""
    model.eval()
    losses = []
    for i in range(0, len(batch), chunk):
        x = batch[i : i + chunk]
        y, _, _ = model(x)
        losses.append(multi_resolution_stft_loss(y, x).item() * len(x))
    model.train()
    return float(sum(losses) / len(batch))


def load_initial_weights(model: LatentMorphVAE, initial: LatentMorphVAE) -> None:
    """Copy ``initial``'s weights into ``model``. Their configs must be equal except for these
    upgrades, each applied when ``initial`` has the old setting and ``model`` the new one:

    * ``phase`` absolute → integrated: the head's log-magnitude rows are kept, its phase rows start
      the frame-0 phase ψ, the frequency deviation δ starts at 0 (bin centres), log σ at log 0.1;
    * ``encoder_phase_bins`` 0 → n: the encoder's embedding gets zero weights for the phase
      features (so the start model encodes exactly as before);
    * ``upsample`` transposed → interpolate: the new convolution's centre tap is the mean of the
      transposed convolution's taps over even and odd frames (what it gave a constant latent, on
      average), its side taps are 0.

    Raises ``ValueError`` on any other difference."""
    old, new = initial.cfg, model.cfg
    state = initial.state_dict()
    comparable = dataclasses.replace(
        new, phase=old.phase, encoder_phase_bins=old.encoder_phase_bins, upsample=old.upsample
    )
    upgrades_ok = (
        (old.phase, new.phase) in {("absolute", "integrated")} | {(old.phase, old.phase)}
        and (old.encoder_phase_bins == new.encoder_phase_bins or old.encoder_phase_bins == 0)
        and (old.upsample, new.upsample) in {("transposed", "interpolate"), (old.upsample, old.upsample)}
    )
    if old != comparable or not upgrades_ok:
        raise ValueError(f"the initial model has config {old}, the run says {new}")
    if old.phase != new.phase:
        n_bins = new.n_fft // 2 + 1
        weight, bias = model.decoder.head.proj.weight.detach().clone(), model.decoder.head.proj.bias.detach().clone()
        weight[2 * n_bins :] = 0.0
        bias[2 * n_bins : 3 * n_bins] = 0.0
        bias[3 * n_bins :] = math.log(0.1)
        weight[: 2 * n_bins] = state["decoder.head.proj.weight"]
        bias[: 2 * n_bins] = state["decoder.head.proj.bias"]
        state["decoder.head.proj.weight"], state["decoder.head.proj.bias"] = weight, bias
    if old.encoder_phase_bins != new.encoder_phase_bins:
        embed = torch.zeros_like(model.encoder.embed.weight)
        embed[:, : old.n_mels] = state["encoder.embed.weight"]
        state["encoder.embed.weight"] = embed
    if old.upsample != new.upsample:
        taps = state.pop("decoder.up.weight")  # [in, out, 2s]
        conv = torch.zeros_like(model.decoder.up[1].weight)  # [out, in, 3]
        conv[:, :, 1] = taps.sum(dim=2).T / new.latent_stride
        state["decoder.up.1.weight"], state["decoder.up.1.bias"] = conv, state.pop("decoder.up.bias")
    model.load_state_dict(state)


def learning_rate_at(cfg: TrainConfig, step: int) -> float:
    """Learning rate for optimiser step ``step`` (0-based).

    ``constant``: ``cfg.learning_rate``. ``cosine``: constant until ``cfg.lr_decay_start``, then
    half a cosine from ``learning_rate`` to ``min_learning_rate`` at ``max_steps`` (SGDR,
    Loshchilov & Hutter 2017, without restarts). Raises ``ValueError`` on an unknown schedule.
    """
    if cfg.lr_schedule == "constant":
        return cfg.learning_rate
    if cfg.lr_schedule != "cosine":
        raise ValueError(f"unknown lr_schedule {cfg.lr_schedule!r} (use 'constant' or 'cosine')")
    span = max(1, cfg.max_steps - cfg.lr_decay_start)
    progress = min(1.0, max(0.0, (step - cfg.lr_decay_start) / span))
    return cfg.min_learning_rate + 0.5 * (cfg.learning_rate - cfg.min_learning_rate) * (
        1 + math.cos(math.pi * progress)
    )


def train(
    config_path: Path,
    data_dir: Path,
    run_dir: Path,
    device_name: str = "auto",
    max_steps: int | None = None,
    threads: int | None = None,
    init_from: Path | None = None,
    init_step: int = 0,
) -> Path:
    """Train (or resume) and return the checkpoint path. See the module docstring."""
    model_cfg, train_cfg = load_config(config_path)
    if max_steps is not None:
        train_cfg = dataclasses.replace(train_cfg, max_steps=max_steps)
    if threads:
        torch.set_num_threads(threads)
    device = pick_device(device_name)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / CHECKPOINT_NAME

    torch.manual_seed(train_cfg.seed)
    rng = np.random.default_rng(train_cfg.seed)
    model = LatentMorphVAE(model_cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_cfg.learning_rate, betas=(0.8, 0.99))
    step = 0
    elapsed_s = 0.0
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, elapsed_s = state["step"], state["elapsed_s"]
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        console.print(f"resumed from {ckpt_path} at step {step}")
    elif init_from is not None:
        initial = model_from_onnx(init_from)
        load_initial_weights(model, initial)
        step = init_step
        console.print(f"starting from the weights of {init_from} ({model_id_of(initial)}) at step {step}")

    train_set = ClipSet(data_dir, "train", model_cfg.sample_rate)
    valid_set = ClipSet(data_dir, "valid", model_cfg.sample_rate, limit=train_cfg.num_valid_clips)
    valid_batch = torch.from_numpy(valid_set.fixed_batch(train_cfg.num_valid_clips, 2 * train_cfg.segment_samples)).to(
        device
    )
    console.print(
        f"train: {len(train_set.clips)} clips, {train_set.seconds / 3600:.2f} h; "
        f"valid: {len(valid_batch)} clips; device {device}; "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters"
    )

    head_stft = STFTMagnitude(model_cfg.n_fft, model_cfg.hop_length).to(device)
    metrics = open(run_dir / "metrics.jsonl", "a")
    start = time.monotonic() - elapsed_s

    def checkpoint() -> None:
        save_checkpoint(
            ckpt_path,
            model=model.state_dict(),
            optimizer=optimizer.state_dict(),
            step=step,
            elapsed_s=time.monotonic() - start,
            numpy_rng=rng.bit_generator.state,
            torch_rng=torch.get_rng_state(),
            model_config=dataclasses.asdict(model_cfg),
            train_config=dataclasses.asdict(train_cfg),
            config_path=str(config_path),
        )

    with Progress(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("train", total=train_cfg.max_steps, completed=step, info="")
        while step < train_cfg.max_steps:
            x = torch.from_numpy(train_set.random_batch(rng, train_cfg.batch_size, train_cfg.segment_samples)).to(
                device
            )
            z, z_mean, z_logvar = model.encode(x)
            spectrum = model.decoder.spectrum(z)
            y = model.decoder.synthesize(spectrum)
            terms = {}
            if model_cfg.phase == "integrated":
                terms["head_mag"], terms["head_phase"] = head_losses(*spectrum, x, head_stft)
            recon = multi_resolution_stft_loss(y, x)
            kl = kl_divergence(z_mean, z_logvar)
            beta = train_cfg.kl_beta * min(1.0, (step + 1) / train_cfg.kl_warmup_steps)
            loss = recon + beta * kl
            if terms:
                loss = (
                    loss
                    + train_cfg.head_magnitude_weight * terms["head_mag"]
                    + train_cfg.head_phase_weight * terms["head_phase"]
                )
            lr = learning_rate_at(train_cfg, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            step += 1
            info = f"mrstft {recon.item():.3f} kl {kl.item():.1f}" + "".join(
                f" {k} {v.item():.3f}" for k, v in terms.items()
            )
            progress.update(task, completed=step, info=info)
            if step % 25 == 0 or step == train_cfg.max_steps:
                record = {
                    "step": step,
                    "loss": loss.item(),
                    "mrstft": recon.item(),
                    "kl": kl.item(),
                    **{k: v.item() for k, v in terms.items()},
                    "beta": beta,
                    "lr": lr,
                    "elapsed_s": round(time.monotonic() - start, 1),
                }
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                if not console.is_terminal:
                    console.print(json.dumps(record))
            if step % train_cfg.validate_every == 0 or step == train_cfg.max_steps:
                record = {
                    "step": step,
                    "valid_mrstft": validate(model, valid_batch),
                    "elapsed_s": round(time.monotonic() - start, 1),
                }
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                console.print(json.dumps(record))
            if step % train_cfg.checkpoint_every == 0 or step == train_cfg.max_steps:
                checkpoint()
    metrics.close()
    return ckpt_path


@app.command()
def main(
    config: Path = typer.Argument(..., help="TOML config (export/configs/*.toml)"),
    data: Path = typer.Option(Path(".data"), help="data dir with manifest.jsonl"),
    run: Path = typer.Option(Path("runs/default"), help="run dir: checkpoint, metrics"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    max_steps: int | None = typer.Option(None, help="override train.max_steps"),
    threads: int | None = typer.Option(None, help="torch intra-op threads"),
    init_from: Path | None = typer.Option(None, help="new run only: start from this exported model's weights"),
    init_step: int = typer.Option(0, help="with --init-from: the schedule step to start at"),
) -> None:
    """Train or resume a LatentMorph VAE."""
    path = train(config, data, run, device, max_steps, threads, init_from, init_step)
    console.print(f"checkpoint: {path}")


if __name__ == "__main__":
    app()
