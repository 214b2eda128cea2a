"""The similarity embedding (issue 14): a tiny training run that resumes and exports with ONNX
parity; retrieval that a trained embedding passes and an untrained one fails; the tag classifier
with its confidence; the warm library server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from latentmorph.cli import app
from latentmorph.library.indexer import index_paths
from latentmorph.library.retrieval import rank_metrics
from latentmorph.library.similarity_model import (
    SimilarityModel,
    file_embedding_id,
    get_similarity_model,
    read_metadata,
)
from latentmorph.library.store import Library
from latentmorph_train.similarity import (
    N_MELS,
    WINDOW_SAMPLES,
    Ensemble,
    SimilarityNet,
    export_onnx,
    frontend,
    load_nets,
    train_model,
    validation_metrics,
)
from latentmorph_train.similarity_data import SHIFT_BANDS, augment_features
from latentmorph_train.similarity_select import class_prototypes, knn_vote

from .conftest import SAMPLE_RATE, SAMPLES_DIR

#: Synthetic kinds of sound and the taxonomy category the tiny training run gives them.
KINDS = {"tone": "synth", "noise": "fx"}


def _sound(kind: str, rng: np.random.Generator) -> np.ndarray:
    """1.2 s: three harmonics of a random frequency (tone), or noise in a narrow band (±15 % in log
    frequency) around one (noise), under the same kind of random envelope and level. The centre
    frequency (80 Hz – 4 kHz) varies far more within a kind than between kinds, so an embedding
    must tell pitched from noisy — not high from low — to group them."""
    t = np.arange(int(1.2 * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.minimum(1, t / rng.uniform(0.002, 0.05)) * np.exp(-t / rng.uniform(0.1, 0.6))
    centre_hz = np.exp(rng.uniform(np.log(80), np.log(4000)))
    if kind == "tone":
        audio = sum(np.sin(2 * np.pi * centre_hz * h * t + rng.uniform(0, 2 * np.pi)) / h ** 2 for h in (1, 2, 3))
    else:
        spectrum = np.fft.rfft(rng.standard_normal(len(t)))
        frequency = np.fft.rfftfreq(len(t), 1 / SAMPLE_RATE)
        spectrum *= np.exp(-0.5 * (np.log(np.maximum(frequency, 1) / centre_hz) / 0.15) ** 2)
        audio = np.fft.irfft(spectrum, len(t))
    audio = audio * envelope
    return (rng.uniform(0.2, 0.9) * audio / np.max(np.abs(audio))).astype(np.float32)


def _synthetic_set(root: Path, per_kind: int, seed: int = 0) -> list[tuple[Path, str]]:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    clips = []
    for kind in KINDS:
        for i in range(per_kind):
            path = root / f"{kind}_{i:02d}.wav"
            sf.write(path, _sound(kind, rng), SAMPLE_RATE)
            clips.append((path, kind))
    return clips


def test_a_tiny_training_run_trains_resumes_and_exports_with_parity(tmp_path):
    data = tmp_path / "data"
    rows = []
    for i, (path, kind) in enumerate(_synthetic_set(data / "clips", 15)):
        split, source = ("valid", "lmms") if i % 5 == 0 else ("test", "oxygen") if i % 5 == 1 else ("train", "lmms")
        rows.append({"path": str(path.relative_to(data)), "category": KINDS[kind], "recording_key": f"k{i}",
                     "split": split, "source": source})
    (data / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run"
    first = train_model(data, run, max_steps=4, eval_every=2, workers=1)
    assert first["step"] == 4 and (run / "best.pt").is_file()
    views = np.load(run / "views.npy")
    assert views.shape[:2] == (30, 4) and 0.0 <= views.min() and views.max() <= 1.0
    resumed = train_model(data, run, max_steps=6, eval_every=2, workers=1)
    assert resumed["step"] == 6
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]  # the resumed run went on from step 4, not from 0
    with pytest.raises(ValueError, match="channels"):
        train_model(data, run, max_steps=8, eval_every=2, workers=1, channels=(8, 8, 8, 8))
    wide = train_model(data, tmp_path / "wide", max_steps=2, eval_every=2, workers=1, channels=(16, 24, 32, 40))
    assert wide["step"] == 2 and load_nets([tmp_path / "wide" / "best.pt"]).project.in_features == 80
    assert all(np.isfinite(json.loads(line)["valid_precision_at_10"]) for line in (run / "metrics.jsonl").open())

    net = SimilarityNet()
    net.load_state_dict(torch.load(run / "checkpoint.pt", weights_only=False)["model"])
    real = np.stack([np.resize(sf.read(SAMPLES_DIR / name, dtype="float32")[0], WINDOW_SAMPLES)
                     for name in ("kick.wav", "bell_c4.wav")])
    report = export_onnx(net, tmp_path / "similarity.onnx", parity_audio=real)
    assert report["max_abs_diff"] <= 1e-4 and report["bytes"] < 5_000_000
    model = SimilarityModel.load(tmp_path)
    assert model.model_id == report["model_id"]
    assert read_metadata(tmp_path / "similarity.onnx") == model._session.get_modelmeta().custom_metadata_map
    assert file_embedding_id(tmp_path) == model.embedding_id == f"{report['model_id']}/windows-v1"
    embedding, probabilities = model.embed(real[0])
    assert embedding.shape == (model.embedding_dim,) and np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5) and len(probabilities) == len(model.categories)


def _precision_within(model: SimilarityModel, clips: list[tuple[Path, str]], k: int) -> float:
    embeddings = np.stack([model.embed(sf.read(path, dtype="float32")[0])[0] for path, _ in clips])
    kinds = [kind for _, kind in clips]
    return rank_metrics(embeddings, kinds, [str(p) for p, _ in clips], np.arange(len(clips)), k)["precision_at_k"]["all"]


def test_the_trained_embedding_groups_kinds_an_untrained_one_does_not(tmp_path):
    """Tones and narrow noise bands at random centre frequencies (never trained on): the shipped
    model's 5 nearest share the query's kind far more often than with the same network at its
    initial random weights (three seeds, exported the same way), which group by frequency."""
    clips = _synthetic_set(tmp_path / "set", 20, seed=1)
    trained = _precision_within(get_similarity_model(), clips, 5)
    untrained = []
    for seed in range(3):
        torch.manual_seed(seed)
        export_onnx(SimilarityNet(), tmp_path / "similarity.onnx")
        untrained.append(_precision_within(SimilarityModel.load(tmp_path), clips, 5))
    assert trained >= 0.85, (trained, untrained)
    assert np.mean(untrained) <= trained - 0.1, (trained, untrained)


def test_path_words_come_first_and_the_classifier_fills_in_with_a_confidence(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    audio, rate = sf.read(SAMPLES_DIR / "snare.wav", dtype="float32")
    sf.write(root / "snare_01.wav", audio, rate)
    sf.write(root / "take_7.wav", 0.8 * audio, rate)
    db = tmp_path / "lib.sqlite"
    index_paths([root], db, workers=1, progress=False)
    with Library.open(db) as library:
        items = {Path(it.path).name: it for it in library.items()}
    assert (items["snare_01.wav"].tag, items["snare_01.wav"].tag_source) == ("snare", "path")
    assert items["snare_01.wav"].tag_confidence is None
    guess = items["take_7.wav"]
    assert guess.tag_source == "classifier" and guess.tag in get_similarity_model().categories
    assert 0.0 < guess.tag_confidence <= 1.0
    result = CliRunner().invoke(app, ["tags", "--db", str(db), "--evaluate", "--json"])
    assert result.exit_code == 0, result.output
    classifier = json.loads(result.stdout)["classifier"]
    assert classifier["items"] == 1 and set(classifier["f1"]) == {"snare"}


def test_a_version_1_database_gains_the_confidence_column(tmp_path):
    import sqlite3

    db = tmp_path / "lib.sqlite"
    Library.open(db, create=True).close()
    with sqlite3.connect(db) as connection:
        connection.execute("ALTER TABLE items DROP COLUMN tag_confidence")
        connection.execute("PRAGMA user_version = 1")
    with Library.open(db) as library:
        assert library.items() == []
    with sqlite3.connect(db) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(items)")]
        assert "tag_confidence" in columns and connection.execute("PRAGMA user_version").fetchone()[0] == 2


def test_similar_answers_through_a_warm_server_as_it_does_alone(tmp_path):
    clips = _synthetic_set(tmp_path / "set", 3, seed=2)
    db = tmp_path / "lib.sqlite"
    index_paths([tmp_path / "set"], db, workers=1, progress=False)
    env = {**os.environ, "LATENTMORPH_LIBRARY_SOCKET": str(tmp_path / "warm.sock")}
    command = [sys.executable, "-c", "from latentmorph.launcher import main; main()",
               "similar", str(clips[0][0]), "--db", str(db), "-k", "3", "--json"]
    alone = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    server = subprocess.Popen([sys.executable, "-m", "latentmorph.cli", "library-server", "--idle-s", "60"],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "warm.sock").exists():
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
            time.sleep(0.1)
        warm = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        missing = subprocess.run(command[:4] + [str(tmp_path / "gone.wav"), "--db", str(db)], env=env,
                                 capture_output=True, text=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert json.loads(warm.stdout) == json.loads(alone.stdout)
    assert missing.returncode == 1 and "cannot read the query" in missing.stderr


def test_the_shipped_model_id_reads_the_same_without_onnx_runtime():
    assert file_embedding_id() == get_similarity_model().embedding_id
    with pytest.raises(ValueError):
        read_metadata(SAMPLES_DIR / "kick.wav")


def test_feature_augmentation_keeps_range_shape_and_shifts_bands():
    features = torch.rand(64, N_MELS, 64) * (torch.rand(64, N_MELS, 64) > 0.3)
    augmented = augment_features(features, torch.Generator().manual_seed(0))
    assert augmented.shape == features.shape and 0.0 <= augmented.min() and augmented.max() <= 1.0
    assert torch.equal(augmented, augment_features(features, torch.Generator().manual_seed(0)))
    assert not torch.equal(augmented, features)
    # A single lit band moves by at most SHIFT_BANDS (EQ and masks never light a floor bin).
    band = torch.zeros(256, N_MELS, 64)
    band[:, 30] = 0.5
    moved = augment_features(band, torch.Generator().manual_seed(1))
    lit = [set(torch.nonzero(m.amax(dim=1)).flatten().tolist()) for m in moved]
    assert all(bands <= set(range(30 - SHIFT_BANDS, 31 + SHIFT_BANDS)) and len(bands) <= 1 for bands in lit)
    assert len({min(b) for b in lit if b}) == 2 * SHIFT_BANDS + 1


def test_an_ensemble_exports_as_one_model_whose_cosine_is_the_members_mean(tmp_path):
    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(SimilarityNet().eval())
    audio = np.stack([np.resize(sf.read(SAMPLES_DIR / name, dtype="float32")[0], WINDOW_SAMPLES)
                      for name in ("kick.wav", "snare.wav")])
    report = export_onnx(Ensemble(members).eval(), tmp_path / "similarity.onnx", parity_audio=audio)
    model = SimilarityModel.load(tmp_path)
    assert report["max_abs_diff"] <= 1e-4 and model.embedding_dim == 256
    z, p = model.run(audio)
    with torch.no_grad():
        features = frontend()(torch.from_numpy(audio))
        cosines = [float(m(features)[0][0] @ m(features)[0][1]) for m in members]
    assert float(z[0] @ z[1]) == pytest.approx(np.mean(cosines), abs=1e-5)
    assert np.linalg.norm(z, axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)
    assert p.sum(axis=1) == pytest.approx([1.0, 1.0], abs=1e-5)


def test_validation_queries_search_the_training_clips_but_not_their_own_recording():
    """As library-eval scores the held-out sources: the validation clip's own recording (two
    identical training rows) is left out, the training clips are searched."""

    class Stub(torch.nn.Module):  # embedding: the first 2 values of band 0; logits: band 1
        def forward(self, x):
            return torch.nn.functional.normalize(x[:, 0, :2], dim=1), x[:, 1, :3]

    vectors = [(1, 0), (1, 0), (0.9, 0.1), *[(0.95, 0.05)] * 9, (1, 0)]  # 12 training rows, then the query
    labels = np.array([0, 0, 0, *[1] * 9, 0])
    groups = np.array(["own", "own", "other", *["kind1"] * 9, "own"])
    features = np.zeros((13, 1, N_MELS, 8), np.float32)
    features[:, 0, 0, :2] = vectors
    features[np.arange(13), 0, 1, labels] = 1.0  # the head's logits say the right class
    metrics = validation_metrics(Stub(), features, labels, groups, np.arange(12), np.array([12]))
    assert metrics["valid_precision_at_10"] == pytest.approx(0.1)  # "other" is the one right neighbour
    assert metrics["valid_map"] == pytest.approx(1 / 10)  # ranked last: 0.95/0.05 is nearer than 0.9/0.1
    assert metrics["head_accuracy"] == 1.0 and metrics["embeddings"].shape == (13, 2)


def test_prototype_and_vote_classifiers():
    train = np.array([[1, 0], [0.8, 0.6], [0, 1], [-0.6, 0.8]], dtype=np.float32)
    labels = np.array([0, 0, 2, 2])
    prototypes = class_prototypes(train, labels)
    assert np.linalg.norm(prototypes[[0, 2]], axis=1) == pytest.approx([1.0, 1.0])
    assert not prototypes[1].any()
    queries = np.array([[0.9, 0.436], [-0.2, 0.98]], dtype=np.float32)
    assert (queries @ prototypes.T).argmax(axis=1).tolist() == [0, 2]
    assert knn_vote(train, labels, queries, k=2).tolist() == [0, 2]
