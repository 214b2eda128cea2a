"""Evaluation metrics on synthetic signals with known answers, pair building, and the `eval` CLI
end to end on a tiny folder of the factory samples (no training data needed)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from latentmorph import evaluation, metrics

from .conftest import SAMPLES_DIR

SAMPLE_RATE = 44100


def harmonic_tone(f0_hz: float, duration_s: float = 1.0, rolloff: float = 1.0, decay_per_s: float = 3.0) -> np.ndarray:
    """Decaying harmonic tone, partial k at amplitude 1/k^rolloff, float32."""
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    partials = [k for k in range(1, 40) if f0_hz * k < SAMPLE_RATE / 2]
    tone = sum(np.sin(2 * np.pi * f0_hz * k * t) / k ** rolloff for k in partials)
    return (tone * np.exp(-decay_per_s * t) / len(partials)).astype(np.float32)


def white_noise(seed: int, duration_s: float = 1.0, level: float = 0.05) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(duration_s * SAMPLE_RATE)) * level).astype(np.float32)


# --- reconstruction metrics -----------------------------------------------------------------------

def test_identical_signals_have_zero_distance():
    reference = harmonic_tone(220.0) + white_noise(0)
    assert metrics.mrstft_distance(reference, reference) == 0.0
    assert metrics.log_spectral_distance_db(reference, reference) == 0.0
    assert metrics.hf_excess_db(reference, reference, SAMPLE_RATE) == 0.0


def test_distances_grow_with_the_error():
    reference = harmonic_tone(220.0)
    small, large = reference + white_noise(1, level=0.001), reference + white_noise(1, level=0.05)
    assert 0 < metrics.mrstft_distance(small, reference) < metrics.mrstft_distance(large, reference)
    assert 0 < metrics.log_spectral_distance_db(small, reference) < metrics.log_spectral_distance_db(large, reference)


def test_hf_excess_of_doubled_noise_is_3_db():
    # Reference: a low tone plus white noise; output adds independent noise of the same level, so
    # the energy above 12 kHz (noise only there) doubles: 10·log10(2) = +3.01 dB.
    reference = harmonic_tone(110.0, rolloff=3.0) + white_noise(2)
    output = reference + white_noise(3)
    assert metrics.hf_excess_db(output, reference, SAMPLE_RATE) == pytest.approx(10 * np.log10(2), abs=0.15)
    assert metrics.hf_excess_db(reference, output, SAMPLE_RATE) == pytest.approx(-10 * np.log10(2), abs=0.15)


def test_hf_excess_of_a_lowpassed_output_is_negative():
    reference = white_noise(4)
    lowpassed = np.convolve(reference, np.ones(8) / 8, mode="same").astype(np.float32)  # zeros near 5.5 kHz multiples
    assert metrics.hf_excess_db(lowpassed, reference, SAMPLE_RATE) < -10.0


def test_reconstruction_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="empty"):
        metrics.log_spectral_distance_db(np.zeros(0), np.ones(10))
    with pytest.raises(ValueError, match="silent"):
        metrics.hf_excess_db(white_noise(5), np.zeros(SAMPLE_RATE), SAMPLE_RATE)
    with pytest.raises(ValueError, match="cutoff"):
        metrics.hf_excess_db(white_noise(5), white_noise(6), SAMPLE_RATE, cutoff_hz=30000.0)


# --- descriptors ------------------------------------------------------------------------------

@pytest.mark.parametrize("ramp_ms", [20.0, 50.0, 200.0])
def test_attack_time_of_a_linear_ramp(ramp_ms):
    # Amplitude rises linearly from 0 to 1 over ramp_ms, then holds: 10 %→90 % takes 0.8·ramp_ms.
    t = np.arange(int(0.6 * SAMPLE_RATE)) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * 1000.0 * t) * np.minimum(t / (ramp_ms * 1e-3), 1.0)
    assert metrics.attack_time_ms(tone, SAMPLE_RATE) == pytest.approx(0.8 * ramp_ms, abs=3.0)


def test_spectral_centroid_and_loudness_of_a_sine():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    sine = np.sin(2 * np.pi * 3000.0 * t)
    assert metrics.spectral_centroid_hz(sine, SAMPLE_RATE) == pytest.approx(3000.0, rel=0.02)
    assert metrics.loudness_db(sine) == pytest.approx(-3.01, abs=0.01)
    assert metrics.loudness_db(0.1 * sine) == pytest.approx(-23.01, abs=0.01)
    with pytest.raises(ValueError, match="silent"):
        metrics.loudness_db(np.zeros(100))


def test_linearity_and_monotonicity():
    t = np.linspace(0, 1, 9)
    assert metrics.linearity_r2(t, 3 * t + 1) == pytest.approx(1.0)
    assert metrics.monotonicity(t, 3 * t + 1) == pytest.approx(1.0)
    assert metrics.monotonicity(t, -np.exp(5 * t)) == pytest.approx(1.0)  # monotone, either direction
    assert metrics.linearity_r2(t, np.exp(5 * t)) < 0.85  # monotone but far from a line
    bump = np.array([0.0, 1, 2, 3, 4, 3, 2, 1, 0])  # up then down, symmetric
    assert metrics.linearity_r2(t, bump) < 0.05
    assert metrics.monotonicity(t, bump) < 0.1
    assert math.isnan(metrics.linearity_r2(t, np.ones(9)))
    with pytest.raises(ValueError, match="3 steps"):
        metrics.linearity_r2(t[:2], t[:2])


def test_step_smoothness_finds_a_jump():
    a, b = harmonic_tone(220.0), harmonic_tone(330.0, rolloff=2.0)
    even = np.stack([(1 - t) * a + t * b for t in np.linspace(0, 1, 9)])
    jump = np.stack([a] * 4 + [b] * 5)
    assert metrics.step_smoothness(even) < 1.6
    assert metrics.step_smoothness(jump) == pytest.approx(8.0)  # one step of 8 carries all the change


# --- doubling -----------------------------------------------------------------------------------

def test_doubling_is_high_for_a_crossfade_and_low_for_a_new_sound():
    a, b = harmonic_tone(261.6), harmonic_tone(329.6, rolloff=2.0)  # C4 and E4, different timbres
    crossfade = metrics.doubling_score(0.5 * a + 0.5 * b, a, b, SAMPLE_RATE)
    assert crossfade.score > 0.45
    assert crossfade.explained_variance > 0.8
    new_note = metrics.doubling_score(harmonic_tone(293.7, rolloff=1.5), a, b, SAMPLE_RATE)  # D4
    assert new_note.score < 0.15
    assert metrics.doubling_score(a, a, b, SAMPLE_RATE).score < 0.05  # just A: no doubling
    # B 14 dB down in the mix: heard as A, so little doubling although both are present.
    assert metrics.doubling_score(0.5 * a + 0.1 * b, a, b, SAMPLE_RATE).score < 0.1


def test_doubling_rejects_silence():
    with pytest.raises(ValueError, match="silent"):
        metrics.doubling_score(np.zeros(SAMPLE_RATE), harmonic_tone(220.0), harmonic_tone(330.0), SAMPLE_RATE)


# --- systems ------------------------------------------------------------------------------------

def test_model_reconstruction_at_another_rate_matches_the_model_rate():
    import soxr

    from latentmorph.model import get_model
    from latentmorph.morph import reconstruct

    model = get_model()
    tone = harmonic_tone(220.0, duration_s=0.5)
    direct = reconstruct(model, tone)
    system = evaluation.ModelReconstruction("previous", model)
    np.testing.assert_array_equal(system(tone, SAMPLE_RATE), direct)
    at_48k = system(soxr.resample(tone, SAMPLE_RATE, 48000, quality="HQ"), 48000)
    assert at_48k.dtype == np.float32 and len(at_48k) == round(len(tone) * 48000 / SAMPLE_RATE)
    back = soxr.resample(at_48k, 48000, SAMPLE_RATE, quality="HQ")[:len(tone)]
    assert metrics.mrstft_distance(back, direct) < 0.05


# --- pairs and inputs ---------------------------------------------------------------------------

def _clip(name: str, category: str, note: int | None = None) -> evaluation.Clip:
    return evaluation.Clip(Path(f"/x/{name}.wav"), category, f"rec:{name}", note)


def test_build_pairs_respects_kinds_and_is_seeded():
    clips = [_clip("bass48", "bass", 48), _clip("keys48", "keys", 48), _clip("reed52", "reed", 52),
             _clip("keys84", "keys", 84), _clip("kick", "kick"), _clip("snare", "snare"), _clip("fx", "fx")]
    pairs = evaluation.build_pairs(clips, 6, seed=1)
    assert pairs == evaluation.build_pairs(clips, 6, seed=1)
    assert {p.kind for p in pairs} == {"pitched", "drum"}
    for pair in pairs:
        assert pair.a.recording_key != pair.b.recording_key
        if pair.kind == "pitched":
            assert pair.a.category != pair.b.category
            assert pair.a.category in evaluation.PITCHED_CATEGORIES and pair.b.category in evaluation.PITCHED_CATEGORIES
            assert abs(pair.a.midi_note - pair.b.midi_note) <= evaluation.MAX_PAIR_INTERVAL_SEMITONES
        else:
            assert {pair.a.category, pair.b.category} <= evaluation.DRUM_CATEGORIES
    assert len({(p.a.path, p.b.path) for p in pairs}) == len(pairs)


def test_read_pairs_and_errors(tmp_path):
    (tmp_path / "pairs.txt").write_text("# comment\nbass/a.wav\tbell/b.wav\tpitched\n\nkick/k.wav\tsnare/s.wav\n")
    pairs = evaluation.read_pairs(tmp_path / "pairs.txt")
    assert [(p.a.category, p.b.category, p.kind) for p in pairs] == [("bass", "bell", "pitched"), ("kick", "snare", "pair")]
    (tmp_path / "bad.txt").write_text("only-one-path.wav\n")
    with pytest.raises(evaluation.EvaluationError, match="bad.txt:1"):
        evaluation.read_pairs(tmp_path / "bad.txt")
    (tmp_path / "manifest.jsonl").write_text('{"path": "a.wav", "split": "valid"}\n')
    with pytest.raises(evaluation.EvaluationError, match="malformed"):
        evaluation.clips_from_manifest(tmp_path / "manifest.jsonl", "valid")


def test_select_clips_is_a_seeded_ordered_subset():
    clips = [_clip(f"c{i}", "keys", i) for i in range(20)]
    subset = evaluation.select_clips(clips, 5, seed=3)
    assert subset == evaluation.select_clips(clips, 5, seed=3) != evaluation.select_clips(clips, 5, seed=4)
    assert len(subset) == 5 and subset == sorted(subset, key=clips.index)
    assert evaluation.select_clips(clips, 0, seed=3) == clips


def test_targets_compare_ours_with_thresholds_and_baselines():
    def clip_row(ours_mrstft: float, baseline_mrstft: float, in_tune: float = 1.0) -> dict:
        return {"category": "keys", "systems": {
            "ours": {"mrstft": ours_mrstft, "lsd_db": 5.0, "no_frame_periodicity": 1.0, "f0_within_25_cents": in_tune},
            "mel_gl_44k_128": {"mrstft": baseline_mrstft, "lsd_db": 1.0}}}

    pair_row = {"kind": "drum", "systems": {"ours": {m: 0.95 for m in evaluation.MORPH_METRICS}}}
    targets = {t["metric"]: t for t in evaluation.check_targets(
        evaluation.summarise([clip_row(0.4, 0.5), clip_row(0.6, 0.7)], [pair_row]))}
    assert targets["mrstft"]["value"] == pytest.approx(0.5) and targets["mrstft"]["threshold"] == pytest.approx(0.6)
    assert targets["mrstft"]["met"] is True
    assert targets["lsd_db"]["met"] is True  # 5 dB ≤ 6 dB
    assert targets["centroid_r2"]["met"] is True  # 0.95 ≥ 0.9
    assert targets["endpoint_mrstft"]["met"] is False  # 0.95 > 0.02
    assert targets["step_smoothness"]["met"] is True and targets["step_max_over_median"]["met"] is True
    assert targets["doubling"]["met"] is None  # no pitched pair: not measured
    # pass fractions are means, not medians: 2 of 3 clips in tune is below 90 %
    fraction = evaluation.check_targets(evaluation.summarise(
        [clip_row(0.4, 0.5), clip_row(0.4, 0.5), clip_row(0.4, 0.5, in_tune=0.0)], [pair_row]))
    in_tune = next(t for t in fraction if t["metric"] == "f0_within_25_cents")
    assert in_tune["value"] == pytest.approx(2 / 3) and in_tune["met"] is False
    worse = evaluation.check_targets(evaluation.summarise([clip_row(0.8, 0.5)], [pair_row]))
    assert next(t for t in worse if t["metric"] == "mrstft")["met"] is False


def test_stats_ignore_undefined_values():
    assert evaluation.stats([1.0, float("nan"), 3.0, None, 2.0, 4.0]) == {"count": 4, "median": 2.5, "q1": 1.75,
                                                                          "q3": 3.25, "mean": 2.5}
    assert evaluation.stats([float("nan")])["median"] is None


# --- end to end --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def eval_folder(tmp_path_factory):
    """The factory samples sorted into category folders, plus an unreadable file to be skipped."""
    root = tmp_path_factory.mktemp("eval_in")
    for name, category in (("bass_c4", "bass"), ("bell_c4", "bell"), ("kick", "kick"), ("snare", "snare")):
        (root / category).mkdir()
        shutil.copy(SAMPLES_DIR / f"{name}.wav", root / category / f"{name}.wav")
    (root / "fx").mkdir()  # fx makes no pairs: only the clip is skipped
    (root / "fx" / "broken.wav").write_bytes(b"RIFF0000WAVEnot audio")
    return root


def test_eval_cli_end_to_end(eval_folder, tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "latentmorph.cli", "eval", str(eval_folder), "--out", str(out), "--num-pairs", "2",
         "--steps", "5", "--gl-iterations", "2", "--json"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    report = json.loads((out / "eval.json").read_text())
    assert printed["targets"] == report["targets"]
    assert report["sizes"] == {"clips": 4, "pairs": 2, "visqol_clips": 4, "pairs_by_kind": {"drum": 1, "pitched": 1}}
    assert report["previous_model"] is None
    assert report["skipped"]["count"] == 1 and "broken.wav" in report["skipped"]["reasons"][0]
    recon = report["summary"]["reconstruction"]
    assert set(recon) == {"ours", "mel_gl_16k_80", "mel_gl_44k_128"}
    assert set(recon["ours"]["groups"]) == {"bass", "bell", "kick", "snare"}
    for system in recon.values():
        for metric in evaluation.RECONSTRUCTION_METRICS:
            assert math.isfinite(system["all"][metric]["median"])
    assert [row["category"] for row in report["clips"]] == ["bass", "bell", "kick", "snare"]
    assert all(set(row["systems"]) == set(recon) for row in report["clips"])
    morph = report["summary"]["morph"]
    assert set(morph) == {"ours", "crossfade"}
    for metric in ("centroid_r2", "step_smoothness", "endpoint_mrstft", "doubling"):
        assert math.isfinite(morph["ours"]["all"][metric]["median"])
    # The crossfade's endpoints are its sources: zero distance.
    assert morph["crossfade"]["all"]["endpoint_mrstft"]["median"] == pytest.approx(0.0, abs=1e-3)
    assert len(report["targets"]) == len(evaluation.TARGETS)
    assert all(t["met"] in (True, False) for t in report["targets"])
    markdown = (out / "eval.md").read_text()
    assert "## Targets" in markdown and "mel_gl_44k_128" in markdown and "crossfade" in markdown
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 'id="listen-data"' in (out / "listen.html").read_text("utf-8")  # tests/test_listen_page.py plays it


@pytest.mark.parametrize("arguments, message", [
    (["{folder}", "--steps", "4"], "odd"),
    ([], "--manifest"),
    (["--manifest", "{tmp}/none.jsonl"], "manifest not found"),
    (["{folder}", "--align", "sideways"], "align must be one of"),
    (["{folder}", "--pairs", "{tmp}/none.txt"], "pairs file not found"),
    (["{folder}", "--previous-model", "{tmp}/none"], "model file not found"),
])
def test_eval_cli_rejects_bad_options(eval_folder, tmp_path, arguments, message):
    from typer.testing import CliRunner

    from latentmorph.cli import app

    arguments = [a.format(folder=eval_folder, tmp=tmp_path) for a in arguments]
    result = CliRunner().invoke(app, ["eval", *arguments, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "out").exists()
