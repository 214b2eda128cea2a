"""Every training config trains at tiny size and exports with the ONNX parity check (as RAVE's
test_configs does), in a temp dir, without network or the real data set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch", reason="needs the `train` extra")

from latentmorph_train.config import load_config  # noqa: E402
from latentmorph_train.features import ISTFTHead, STFTMagnitude  # noqa: E402
from latentmorph_train.onnx_export import ParityError, export_model  # noqa: E402
from latentmorph_train.checkpoint import model_from_checkpoint  # noqa: E402
from latentmorph_train.train import train  # noqa: E402

from latentmorph.model import MorphModel  # noqa: E402

from .conftest import REPO_ROOT  # noqa: E402

SR = 44100


def _synthetic_data(root, n_train=6, n_valid=2):
    """Decaying tones and noise bursts plus a manifest in the format of latentmorph_train.data_prep."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_train + n_valid):
        t = np.arange(int(0.5 * SR)) / SR
        tone = np.sin(2 * np.pi * 110 * (i + 1) * t) if i % 2 else rng.standard_normal(len(t))
        audio = (0.8 * tone * np.exp(-t * 8)).astype(np.float32)
        path = root / "clips" / f"c{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio, SR, subtype="PCM_16")
        rows.append({"id": f"c{i}", "path": f"clips/c{i}.wav", "split": "train" if i < n_train else "valid",
                     "sample_rate": SR, "category": "other", "recording_key": f"c{i}"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_stft_pair_is_perfect_reconstruction():
    stft, head = STFTMagnitude(1024, 256), ISTFTHead(8, 1024, 256)
    x = torch.randn(2, 256 * 40)
    real, imag = stft.complex(x)
    assert torch.allclose(head.istft(real, imag), x, atol=1e-5)


@pytest.mark.parametrize("config_name", ["tiny.toml", "default.toml"])
def test_config_trains_two_steps_and_exports_with_parity(tmp_path, config_name, monkeypatch):
    data = _synthetic_data(tmp_path / "data")
    config = REPO_ROOT / "export" / "configs" / config_name
    model_cfg, train_cfg = load_config(config)
    ckpt = train(config, data, tmp_path / "run", device_name="cpu", max_steps=2)
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 2 and np.isfinite(metrics[-1]["valid_mrstft"])

    # resume: a second call with a higher step budget continues from step 2
    train(config, data, tmp_path / "run", device_name="cpu", max_steps=3)
    assert torch.load(ckpt, weights_only=False)["step"] == 3

    model = model_from_checkpoint(ckpt)
    real_audio = sf.read(data / "clips" / "c1.wav", dtype="float32")[0]
    report = export_model(model, tmp_path / "onnx", [real_audio])
    assert max(report["max_abs_diff"].values()) < 1e-3

    # the runtime loads the exported pair, validates the contract and round-trips audio
    runtime = MorphModel.load(tmp_path / "onnx")
    assert runtime.model_id == report["model_id"]
    assert runtime.sample_rate == model_cfg.sample_rate
    z = runtime.encode(real_audio[None, : runtime.hop_length * 8])
    assert z.shape == (1, 8, model_cfg.latent_dim)
    from latentmorph.model import phase_noise

    noise = torch.from_numpy(phase_noise(model_cfg.n_fft // 2 + 1, 8 * model_cfg.latent_stride).copy())
    with torch.no_grad():  # the runtime's fixed phase draws: the same audio
        expected = model.decoder(torch.from_numpy(z), noise).numpy()
    np.testing.assert_allclose(runtime.decode(z), expected, atol=1e-3)


def test_export_refuses_to_write_on_mismatch(tmp_path, monkeypatch):
    from latentmorph_train import onnx_export
    from latentmorph_train.model import LatentMorphVAE

    cfg, _ = load_config(REPO_ROOT / "export" / "configs" / "tiny.toml")
    model = LatentMorphVAE(cfg)
    monkeypatch.setattr(onnx_export, "ATOL", -1.0)  # any difference, even 0, now fails
    with pytest.raises(ParityError):
        export_model(model, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()


def test_numpy_istft_matches_the_training_graph():
    """The backend's NumPy inverse STFT equals the torch iSTFT head on random spectra."""
    from latentmorph.model import istft

    head = ISTFTHead(channels=8, n_fft=1024, hop_length=256)
    gen = torch.Generator().manual_seed(1)
    real, imag = torch.randn(2, 513, 37, generator=gen), torch.randn(2, 513, 37, generator=gen)
    with torch.no_grad():
        expected = head.istft(real, imag).numpy()
    actual = istft(real.numpy(), imag.numpy(), 1024, 256)
    assert actual.shape == expected.shape == (2, 37 * 256)
    np.testing.assert_allclose(actual, expected, atol=1e-5 * np.abs(expected).max())


def test_integrated_phase_stays_within_1e4_rad_over_long_decodes():
    """The runtime's float32 phase integration agrees with a float64 cumsum to < 1e-4 rad after
    40,000 frames (~4 min at hop 256) of steps up to ±3 rad."""
    from latentmorph.model import _cumulative_phase

    step = np.random.default_rng(1).uniform(-3.0, 3.0, (1, 40_000, 5)).astype(np.float32)
    error = np.angle(np.exp(1j * (_cumulative_phase(step) - np.cumsum(step.astype(np.float64), axis=1))))
    assert np.abs(error).max() < 1e-4


def test_runtime_refuses_an_older_contract(tmp_path):
    import onnx

    from latentmorph.model import ModelError
    from latentmorph_train.model import LatentMorphVAE

    cfg, _ = load_config(REPO_ROOT / "export" / "configs" / "tiny.toml")
    export_model(LatentMorphVAE(cfg), tmp_path)
    proto = onnx.load(str(tmp_path / "decoder.onnx"))
    next(p for p in proto.metadata_props if p.key == "contract_version").value = "1"
    onnx.save(proto, str(tmp_path / "decoder.onnx"))
    with pytest.raises(ModelError, match="contract version 1"):
        MorphModel.load(tmp_path)


def test_shipped_model_weights_are_recovered_bit_exactly():
    """The shipped ONNX pair gives back the PyTorch model whose state dict hashes to its model id."""
    from latentmorph.model import default_model_dir
    from latentmorph_train.weights import model_from_onnx, model_id_of

    model = model_from_onnx(default_model_dir())
    assert model_id_of(model) == MorphModel.load(default_model_dir()).model_id


def test_training_continues_from_an_exported_model(tmp_path):
    from latentmorph_train.model import LatentMorphVAE
    from latentmorph_train.weights import model_from_onnx, model_id_of

    config = REPO_ROOT / "export" / "configs" / "tiny.toml"
    cfg, _ = load_config(config)
    torch.manual_seed(5)
    exported = LatentMorphVAE(cfg)
    with torch.no_grad():  # distinct values everywhere, as in a trained model (the exporter
        for p in exported.parameters():  # merges identical tensors, e.g. fresh LayerNorm weights)
            p.add_(0.01 * torch.randn_like(p))
    export_model(exported, tmp_path / "onnx")
    # a tampered file is refused: its weights no longer hash to the model id in its metadata
    import onnx
    proto = onnx.load(str(tmp_path / "onnx" / "decoder.onnx"))
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    (tampered / "encoder.onnx").write_bytes((tmp_path / "onnx" / "encoder.onnx").read_bytes())
    proto.graph.initializer[0].raw_data = bytes(len(proto.graph.initializer[0].raw_data))
    onnx.save(proto, str(tampered / "decoder.onnx"))
    with pytest.raises(ParityError, match="hash"):
        model_from_onnx(tampered)

    data = _synthetic_data(tmp_path / "data")
    ckpt = train(config, data, tmp_path / "run", device_name="cpu", max_steps=7,
                 init_from=tmp_path / "onnx", init_step=5)
    state = torch.load(ckpt, weights_only=False)
    assert state["step"] == 7  # two steps from step 5
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert min(steps) > 5
    # the weights moved from the exported ones, not from a random initialisation
    continued = model_from_checkpoint(ckpt)
    start = model_from_onnx(tmp_path / "onnx")
    assert model_id_of(start) == model_id_of(exported)
    drift = max(float((a - b).detach().abs().max()) for a, b in zip(continued.parameters(), start.parameters()))
    fresh = max(float((a - b).detach().abs().max()) for a, b in zip(LatentMorphVAE(cfg).parameters(), start.parameters()))
    assert 0.0 < drift < 0.1 * fresh


def _perturbed(model):
    """``model`` with every parameter nudged (distinct values, as in a trained model)."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


@pytest.mark.parametrize("upsample", ["transposed", "interpolate"])
def test_a_held_latent_decodes_to_identical_frames_only_without_the_transposed_upsampler(upsample):
    """The root cause of the 86 Hz buzz, kept from coming back: the transposed-convolution upsampler
    gives even and odd STFT frames different taps, so a constant latent (a held note) decodes to
    frames that alternate — a modulation at the latent rate. Interpolation + conv does not."""
    import dataclasses

    from latentmorph_train.model import LatentMorphVAE

    cfg, _ = load_config(REPO_ROOT / "export" / "configs" / "tiny.toml")
    torch.manual_seed(2)
    model = _perturbed(LatentMorphVAE(dataclasses.replace(cfg, upsample=upsample)))
    z = torch.randn(1, 1, cfg.latent_dim).repeat(1, 60, 1)
    with torch.no_grad():
        magnitude, increment, sigma = model.decoder.spectrum(z)
    middle = slice(40, 80)  # latent frames 20-40: beyond the reach of the zero padding at the ends
    even, odd = magnitude[0, :, middle][:, 0::2], magnitude[0, :, middle][:, 1::2]
    alternation = float((even - odd).abs().max() / magnitude[0, :, middle].abs().max())
    if upsample == "transposed":
        assert alternation > 1e-2
    else:
        assert alternation < 1e-5
        # and the phase advance is the same in every frame: the running sum turns it into a steady tone
        assert float((increment[0, :, middle] - increment[0, :, middle][:, :1]).abs().max()) < 1e-5


def test_an_older_model_upgrades_to_the_current_architecture():
    """``--init-from`` an absolute-phase, transposed-upsampling model without phase features: the
    upgraded model encodes exactly as the old one and keeps its magnitude head."""
    import dataclasses

    from latentmorph_train.model import LatentMorphVAE
    from latentmorph_train.train import load_initial_weights

    cfg, _ = load_config(REPO_ROOT / "export" / "configs" / "tiny.toml")
    torch.manual_seed(3)
    old = _perturbed(LatentMorphVAE(dataclasses.replace(cfg, phase="absolute", encoder_phase_bins=0,
                                                        upsample="transposed")))
    new = LatentMorphVAE(cfg)
    load_initial_weights(new, old)
    audio = 0.3 * torch.randn(1, 8 * cfg.latent_hop_length)
    with torch.no_grad():
        np.testing.assert_allclose(new.encoder(audio)[0].numpy(), old.encoder(audio)[0].numpy(), atol=1e-5)
    n_bins = cfg.n_fft // 2 + 1
    assert torch.equal(new.decoder.head.proj.weight[:n_bins], old.decoder.head.proj.weight[:n_bins])
    with pytest.raises(ValueError, match="config"):
        load_initial_weights(LatentMorphVAE(dataclasses.replace(cfg, latent_dim=4)), old)
