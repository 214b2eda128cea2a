"""`latentmorph eval`'s listening page: a tiny synthetic evaluation with a previous model writes
listen.html, which headless Chromium loads without errors and whose every player plays."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from latentmorph import evaluation
from latentmorph.cli import app
from latentmorph.model import default_model_dir

from .conftest import SAMPLE_RATE
from .test_library_map import render_in_chromium

#: (category, duration in s): two pitched categories and two drum ones, so both pair kinds exist.
CLIPS = (("bass", 0.8), ("keys", 2.5), ("kick", 0.3), ("snare", 0.4))
LISTEN_CLIPS, LISTEN_PAIRS, STEPS = 3, 2, 3

#: Appended to the page: plays every player in turn, then records on <body> how many played and
#: their durations (what Chromium decoded from the embedded FLAC).
_PLAY_ALL = """<script>
(async function () {
  const durations = [];
  for (const player of document.querySelectorAll("audio")) {
    try {
      await player.play();
      player.pause();
      durations.push(player.duration.toFixed(3));
    } catch (error) {
      console.error("cannot play: " + error.message);
    }
  }
  document.body.dataset.played = durations.join(",");
})();
</script>
</body>"""


def _sound(category: str, duration_s: float) -> np.ndarray:
    """float32 mono at SAMPLE_RATE: a decaying harmonic tone (pitched categories) or a noise burst."""
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    if category in evaluation.PITCHED_CATEGORIES:
        f0_hz = {"bass": 110.0, "keys": 261.6}[category]
        audio = sum(np.sin(2 * np.pi * f0_hz * k * t) / k for k in range(1, 12)) * np.exp(-2.0 * t) / 3
    else:
        audio = np.random.default_rng(len(category)).standard_normal(len(t)) * np.exp(-t / 0.05) / 3
    return audio.astype(np.float32)


@pytest.fixture(scope="module")
def listen_eval(tmp_path_factory) -> Path:
    """The output folder of `latentmorph eval` on four synthetic clips (a manifest), with the
    shipped model also as the previous model."""
    root = tmp_path_factory.mktemp("listen")
    rows = []
    for category, duration_s in CLIPS:
        (root / "clips").mkdir(exist_ok=True)
        sf.write(root / "clips" / f"{category}.wav", _sound(category, duration_s), SAMPLE_RATE)
        rows.append({"path": f"clips/{category}.wav", "split": "valid", "category": category,
                     "recording_key": f"synthetic:{category}"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = root / "out"
    result = CliRunner().invoke(app, [
        "eval", "--manifest", str(root / "manifest.jsonl"), "--out", str(out), "--steps", str(STEPS),
        "--num-pairs", "2", "--gl-iterations", "2", "--previous-model", str(default_model_dir()),
        "--visqol-limit", "2", "--listen-clips", str(LISTEN_CLIPS), "--listen-pairs", str(LISTEN_PAIRS)])
    assert result.exit_code == 0, result.output
    return out


def page_data(page: Path) -> dict:
    match = re.search(r'<script type="application/json" id="listen-data">(.*?)</script>', page.read_text("utf-8"), re.S)
    return json.loads(match.group(1))


def test_previous_model_is_scored_with_visqol(listen_eval):
    report = json.loads((listen_eval / "eval.json").read_text())
    assert report["previous_model"]["model_id"] == report["model"]["model_id"]  # the shipped model, twice
    assert report["sizes"]["clips"] == len(CLIPS) and report["sizes"]["visqol_clips"] == 2
    recon = report["summary"]["reconstruction"]
    assert list(recon) == ["ours", "previous", "mel_gl_16k_80", "mel_gl_44k_128"]
    for system in recon.values():
        assert system["all"]["visqol_mos"]["count"] == 2 and 1.0 <= system["all"]["visqol_mos"]["median"] <= 5.0
    for row in report["clips"]:  # the same model through the same path: the same numbers (ViSQOL's
        # sums are not bit-reproducible between calls: equal to 1e-9)
        assert row["systems"]["previous"] == pytest.approx(row["systems"]["ours"], rel=1e-9, nan_ok=True)
    assert "visqol_mos" in (listen_eval / "eval.md").read_text()


def test_listen_page_is_self_contained_and_every_player_plays(listen_eval, tmp_path):
    page = listen_eval / "listen.html"
    data = page_data(page)
    clip_groups, pair_groups = (section["groups"] for section in data["sections"])
    assert len(clip_groups) == LISTEN_CLIPS and len(pair_groups) == LISTEN_PAIRS
    # Spread over categories and kinds: three categories of four, one pair of each kind.
    assert len({group["title"].split(" — ")[0] for group in clip_groups}) == LISTEN_CLIPS
    assert {group["title"].split(" — ")[0] for group in pair_groups} == {"pitched", "drum"}
    for group in clip_groups:
        cells = group["rows"][0]["cells"]
        assert [cell["label"] for cell in cells] == ["original", "ours", "mel_gl_44k_128", "previous"]
        assert all(cell["caption"].startswith("MR-STFT ") for cell in cells[1:])
    for group in pair_groups:
        assert [row["label"] for row in group["rows"]] == ["ours", "crossfade"]
        assert [cell["label"] for cell in group["rows"][0]["cells"]] == ["t = 0.00", "t = 0.50", "t = 1.00"]
    cells = [cell for section in data["sections"] for group in section["groups"]
             for row in group["rows"] for cell in row["cells"]]
    assert all(cell["audio"].startswith("data:audio/flac;base64,") for cell in cells)
    assert all(cell["image"].startswith("data:image/png;base64,") for cell in cells)
    text = page.read_text("utf-8")
    outside_data = text.replace(re.search(r'id="listen-data">(.*?)</script>', text, re.S).group(1), "")
    assert not re.search(r"https?:|file:|src=|href=", outside_data)  # nothing loaded from outside
    assert page.stat().st_size < 3_000_000, page.stat().st_size

    played = tmp_path / "played.html"
    played.write_text(text.replace("</body>", _PLAY_ALL), encoding="utf-8")
    dom, console = render_in_chromium(played, tmp_path / "profile")
    assert console == []
    expected = LISTEN_CLIPS * 4 + LISTEN_PAIRS * 2 * STEPS
    assert re.search(r'data-players="(\d+)"', dom).group(1) == str(expected)
    durations = [float(d) for d in re.search(r'data-played="([^"]*)"', dom).group(1).split(",")]
    assert len(durations) == expected
    # Every render plays at its own length, cut at LISTEN_MAX_DURATION_S (the 2.5 s keys clip).
    assert all(0.25 < d <= evaluation.LISTEN_MAX_DURATION_S + 1e-3 for d in durations), durations
    assert max(durations) == pytest.approx(evaluation.LISTEN_MAX_DURATION_S, abs=1e-3)


def test_spread_takes_turns_over_groups():
    items = [("a", i) for i in range(6)] + [("b", 0), ("c", 0), ("c", 1)]
    chosen = evaluation.spread(items, 4, seed=1, group=lambda item: item[0])
    assert chosen == evaluation.spread(items, 4, seed=1, group=lambda item: item[0])
    assert [item[0] for item in chosen] == ["a", "b", "c", "a"]
    assert len(evaluation.spread(items, 100, seed=1, group=lambda item: item[0])) == len(items)
    assert evaluation.spread(items, 0, seed=1, group=lambda item: item[0]) == []


def test_visqol_rises_with_quality_and_hears_a_short_attack():
    import scipy.signal

    def lowpass(x: np.ndarray, cutoff_hz: float) -> np.ndarray:
        b, a = scipy.signal.butter(4, cutoff_hz, fs=SAMPLE_RATE)
        return scipy.signal.lfilter(b, a, x).astype(np.float32)

    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (sum(np.sin(2 * np.pi * 220.0 * k * t) / k for k in range(1, 39)) * np.exp(-3.0 * t) / 10).astype(np.float32)
    scores = [evaluation.visqol_mos(x, tone, SAMPLE_RATE) for x in (tone, lowpass(tone, 6000.0), lowpass(tone, 1500.0))]
    assert scores[0] == pytest.approx(4.73, abs=0.01)  # identical: ViSQOL audio mode's ceiling
    assert scores[0] > scores[1] > scores[2] > 1.0
    # A 0.2 s sound lies before ViSQOL's first patch unless padded in front: it must still be heard.
    short = tone[:int(0.2 * SAMPLE_RATE)]
    assert evaluation.visqol_mos(lowpass(short, 1500.0), short, SAMPLE_RATE) < 4.6
    assert math.isnan(evaluation.visqol_mos(np.zeros_like(short), short, SAMPLE_RATE))
