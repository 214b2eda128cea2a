"""ONNX export with the model contract and a parity check.

``python -m latentmorph_train.onnx_export CHECKPOINT --out DIR [--parity-audio FILE ...]``

Writes ``DIR/encoder.onnx`` and ``DIR/decoder.onnx`` only if ONNX Runtime reproduces the PyTorch
outputs on random noise, random latents and real audio within tolerance, and the re-loaded files
carry the contract metadata; otherwise nothing is written and :class:`ParityError` is raised.

Contract (``metadata_props``, all strings; validated by ``latentmorph.model`` at load):
``contract_version``, ``role`` (encoder | decoder), ``model_id``, ``sample_rate`` (Hz),
``hop_length`` (samples per latent frame), ``latent_dim``, ``model_config`` (JSON); the decoder
also ``n_fft`` and ``stft_hop_length`` (samples).
Encoder: ``audio [batch, samples]`` float32 (``samples`` a multiple of ``hop_length``) →
``z_mean``, ``z_logvar`` ``[batch, samples / hop_length, latent_dim]``.
Decoder (contract 3, ``phase = "integrated"``): ``z [batch, frames, latent_dim]`` →
``magnitude``, ``phase_increment``, ``phase_sigma`` ``[batch, n_fft/2 + 1, frames * hop_length /
stft_hop_length]``, which ``latentmorph.model.integrate_phase`` and ``istft`` turn into
``audio [batch, frames * hop_length]`` (contract 2, ``phase = "absolute"``: ``real``, ``imag``).
Parity is checked on the graph's outputs and on the audio after the NumPy runtime's synthesis,
against ``Decoder.forward`` given the same phase draws.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import typer
from rich.console import Console

from latentmorph.audio import load_audio
from latentmorph.model import integrate_phase, istft, phase_noise

from .checkpoint import model_from_checkpoint
from .model import LatentMorphVAE
from .weights import ParityError, model_id_of

OPSET = 17
#: Parity tolerance: |onnx − torch| ≤ ATOL + RTOL·|torch| element-wise.
ATOL, RTOL = 1e-4, 1e-3

console = Console(stderr=True)
app = typer.Typer(add_completion=False)


def _export(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    input_name: str,
    output_names: list[str],
    dynamic_axes: dict,
    metadata: dict[str, str],
) -> None:
    torch.onnx.export(
        module,
        (example,),
        str(path),
        input_names=[input_name],
        output_names=output_names,
        dynamic_axes=dynamic_axes,
        opset_version=OPSET,
        dynamo=False,
    )
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


class _EncoderGraph(torch.nn.Module):
    def __init__(self, model: LatentMorphVAE):
        super().__init__()
        self.encoder = model.encoder

    def forward(self, audio):
        return self.encoder(audio)


class _DecoderGraph(torch.nn.Module):
    def __init__(self, model: LatentMorphVAE):
        super().__init__()
        self.decoder = model.decoder

    def forward(self, z):
        return self.decoder.spectrum(z)


def _check(name: str, expected: np.ndarray, actual: np.ndarray) -> float:
    err = float(np.max(np.abs(expected - actual))) if expected.size else 0.0
    if expected.shape != actual.shape or not np.allclose(actual, expected, atol=ATOL, rtol=RTOL):
        raise ParityError(
            f"{name}: ONNX Runtime differs from PyTorch (shape {actual.shape} vs "
            f"{expected.shape}, max |diff| {err:.3g}, atol {ATOL}, rtol {RTOL})"
        )
    return err


#: Decoder graph outputs by ``ModelConfig.phase`` and the contract version they make.
DECODER_OUTPUTS = {
    "absolute": (2, ["real", "imag"]),
    "integrated": (3, ["magnitude", "phase_increment", "phase_sigma"]),
}


def _check_decoder(model: LatentMorphVAE, session: ort.InferenceSession, z: torch.Tensor, name: str) -> float:
    """Outputs of the ONNX graph vs ``Decoder.spectrum``, and audio after the runtime's NumPy
    synthesis vs ``Decoder.forward`` with the runtime's phase draws; returns the audio's max |diff|."""
    expected = [t.numpy() for t in model.decoder.spectrum(z)]
    outputs = session.run(None, {"z": z.numpy()})
    names = DECODER_OUTPUTS[model.cfg.phase][1]
    for output_name, want, got in zip(names, expected, outputs):
        _check(f"decoder {output_name} ({name})", want, got)
    noise = None
    if model.cfg.phase == "integrated":
        noise = torch.from_numpy(phase_noise(*outputs[0].shape[1:]).copy())
        outputs = integrate_phase(*outputs)
    audio = istft(*outputs, model.cfg.n_fft, model.cfg.hop_length)
    return _check(f"decoder audio ({name})", model.decoder(z, noise).numpy(), audio)


def export_model(
    model: LatentMorphVAE, out_dir: Path, parity_audio: list[np.ndarray] | None = None, seed: int = 0
) -> dict:
    """Export, check parity, then move the files into ``out_dir``. Returns a report dict with the
    model id and the max absolute differences. Raises :class:`ParityError` (nothing written)."""
    model = model.eval()
    cfg = model.cfg
    hop = cfg.latent_hop_length
    model_id = model_id_of(model)
    contract, output_names = DECODER_OUTPUTS[cfg.phase]
    common = {
        "contract_version": str(contract),
        "model_id": model_id,
        "sample_rate": str(cfg.sample_rate),
        "hop_length": str(hop),
        "latent_dim": str(cfg.latent_dim),
        "model_config": json.dumps(dataclasses.asdict(cfg)),
    }
    gen = torch.Generator().manual_seed(seed)
    noise = 0.3 * torch.randn(2, 40 * hop, generator=gen)
    latents = torch.randn(3, 25, cfg.latent_dim, generator=gen)
    report = {"model_id": model_id, "max_abs_diff": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        _export(
            _EncoderGraph(model),
            noise,
            tmp / "encoder.onnx",
            "audio",
            ["z_mean", "z_logvar"],
            {
                "audio": {0: "batch", 1: "samples"},
                "z_mean": {0: "batch", 1: "frames"},
                "z_logvar": {0: "batch", 1: "frames"},
            },
            {**common, "role": "encoder"},
        )
        _export(
            _DecoderGraph(model),
            latents,
            tmp / "decoder.onnx",
            "z",
            output_names,
            {"z": {0: "batch", 1: "frames"}, **{n: {0: "batch", 2: "stft_frames"} for n in output_names}},
            {**common, "role": "decoder", "n_fft": str(cfg.n_fft), "stft_hop_length": str(cfg.hop_length)},
        )
        options = ort.SessionOptions()
        options.log_severity_level = 3
        enc = ort.InferenceSession(str(tmp / "encoder.onnx"), options, providers=["CPUExecutionProvider"])
        dec = ort.InferenceSession(str(tmp / "decoder.onnx"), options, providers=["CPUExecutionProvider"])
        for session, role in ((enc, "encoder"), (dec, "decoder")):
            meta = session.get_modelmeta().custom_metadata_map
            if meta.get("role") != role or meta.get("model_id") != model_id:
                raise ParityError(f"{role}.onnx: metadata not carried through ({meta})")
        inputs = [("noise", noise.numpy())]
        for i, audio in enumerate(parity_audio or []):
            n = max(hop, len(audio) // hop * hop)
            clip = np.zeros((1, n), dtype=np.float32)
            clip[0, : min(n, len(audio))] = audio[:n]
            inputs.append((f"audio{i}", clip))
        with torch.no_grad():
            for name, x in inputs:
                z_mean, z_logvar = model.encoder(torch.from_numpy(x))
                onnx_mean, onnx_logvar = enc.run(None, {"audio": x})
                report["max_abs_diff"][f"encoder/{name}"] = _check(
                    f"encoder z_mean ({name})", z_mean.numpy(), onnx_mean
                )
                _check(f"encoder z_logvar ({name})", z_logvar.numpy(), onnx_logvar)
                report["max_abs_diff"][f"decoder/{name}"] = _check_decoder(model, dec, z_mean, name)
            report["max_abs_diff"]["decoder/random_z"] = _check_decoder(model, dec, latents, "random z")
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("encoder.onnx", "decoder.onnx"):
            shutil.move(str(tmp / name), str(out_dir / name))
    return report


@app.command()
def main(
    checkpoint: Path = typer.Argument(..., help="checkpoint.pt written by latentmorph_train.train"),
    out: Path = typer.Option(..., help="output folder for encoder.onnx and decoder.onnx"),
    parity_audio: list[Path] = typer.Option([], help="real audio files for the parity check"),
) -> None:
    """Export a checkpoint to ONNX after checking ONNX Runtime against PyTorch."""
    model = model_from_checkpoint(checkpoint)
    audio = [load_audio(p, model.cfg.sample_rate)[0] for p in parity_audio]
    report = export_model(model, out, audio)
    console.print_json(json.dumps(report))


if __name__ == "__main__":
    app()
