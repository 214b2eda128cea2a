"""`latentmorph render`: batches through the real VST3 — files, manifest, contact sheet, SFZ, post
chain loudness, resume, determinism, failures and refusals (issue 10). Kept small: at most 2 notes ×
2 morph positions of ≤ 0.5 s per run."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from latentmorph.cli import app
from latentmorph.plugin_state import make_state, set_plugin_state
from latentmorph.render import runner, workers
from latentmorph.render.job import JobError, job_from_dict, load_job, parse_notes

from .conftest import SAMPLES_DIR, VST3_PATH, note_messages

BASS, BELL, KICK = (str(SAMPLES_DIR / n) for n in ("bass_c4.wav", "bell_c4.wav", "kick.wav"))
LENGTH_S, TAIL_S = 0.4, 0.1
FLAGS = ["--a", BASS, "--b", BELL, "--morph", "0,1", "--notes", "60:72:12", "--velocity", "100",
         "--length", str(LENGTH_S), "--tail", str(TAIL_S), "--bit-depth", "float"]


def invoke(*args: str):
    return CliRunner().invoke(app, ["render", *args])


def audio_files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*.wav"))


@pytest.fixture(scope="module")
def flags_run(vst3_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("flags") / "out"
    result = invoke(*FLAGS, "--plugin", str(vst3_path), "--out", str(out), "--sfz")
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "manifest.json").read_text())


def test_flags_job_writes_files_manifest_contact_sheet_and_a_valid_sfz(flags_run):
    out, manifest = flags_run
    assert [(e["morph"], e["note"]) for e in manifest["items"]] == [(0.0, 60), (0.0, 72), (1.0, 60), (1.0, 72)]
    assert manifest["failed"] == []
    for entry in manifest["items"]:
        audio, rate = sf.read(out / entry["path"], always_2d=True)
        assert rate == 44100 and audio.shape == (int((LENGTH_S + TAIL_S) * 44100), 2)
        assert np.max(np.abs(audio)) > 0.05, f"{entry['path']} is silent"
        assert entry["peak_dbfs"] == pytest.approx(20 * np.log10(np.max(np.abs(audio))), abs=1e-3)
        assert entry["lufs"] is not None and -40 < entry["lufs"] < 0
        assert entry["model_id"].startswith("lm-") and entry["model_id"] == manifest["model_id"]
        assert entry["plugin_version"] == "0.1.0" and entry["velocity"] == 100 and entry["post"] == []
        assert entry["a"]["path"] == BASS and len(entry["a"]["sha256"]) == 64
    assert (out / "contact_sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sfz = out / "bass_c4_bell_c4.sfz"
    text = sfz.read_text()
    assert text.count("<region>") == 4 and "locc1=0 hicc1=63" in text and "locc1=64 hicc1=127" in text
    assert "lokey=0 hikey=66 pitch_keycenter=60" in text and "lokey=67 hikey=127 pitch_keycenter=72" in text
    sfzlint = Path(sys.executable).parent / "sfzlint"
    if not sfzlint.exists():
        pytest.skip("sfzlint is not installed (pip install -e '.[dev]'): the SFZ was not linted")
    lint = subprocess.run([str(sfzlint), str(sfz)], capture_output=True, text=True, cwd=out)
    assert lint.returncode == 0 and lint.stdout.strip() == "" and lint.stderr.strip() == "", lint.stdout + lint.stderr


def test_root_note_at_morph_0_equals_the_plugins_plain_render(flags_run, plugin):
    out, manifest = flags_run
    entry = next(e for e in manifest["items"] if e["morph"] == 0.0 and e["note"] == 60)
    rendered, _ = sf.read(out / entry["path"], dtype="float32", always_2d=True)
    set_plugin_state(plugin, make_state(BASS, BELL))
    plugin.morph = 0.0
    plain = plugin([(bytes([0x90, 60, 100]), 0.0), (bytes([0x80, 60, 0]), LENGTH_S)], duration=LENGTH_S + TAIL_S,
                   sample_rate=44100, num_channels=2, reset=True)
    assert np.array_equal(rendered.T, plain)


def test_rerun_skips_finished_files_and_redoes_deleted_and_torn_ones(flags_run, vst3_path, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(flags_run[0], out)
    files = audio_files(out)
    mtimes = {f: (out / f).stat().st_mtime_ns for f in files}
    again = invoke(*FLAGS, "--plugin", str(vst3_path), "--out", str(out))
    assert again.exit_code == 0 and "0 rendered, 4 already done" in again.output, again.output
    assert {f: (out / f).stat().st_mtime_ns for f in files} == mtimes
    deleted, torn = files[0], files[1]
    original = (out / torn).read_bytes()
    (out / deleted).unlink()
    (out / torn).write_bytes(original[: len(original) // 2])
    third = invoke(*FLAGS, "--plugin", str(vst3_path), "--out", str(out))
    assert third.exit_code == 0 and "2 rendered, 2 already done" in third.output, third.output
    assert (out / torn).read_bytes() == original
    assert (out / deleted).read_bytes() == (flags_run[0] / deleted).read_bytes()
    assert all((out / f).stat().st_mtime_ns == mtimes[f] for f in files[2:])


def test_two_runs_are_bit_identical_in_process_and_in_a_worker_pool(flags_run, vst3_path, tmp_path):
    result = invoke(*FLAGS, "--plugin", str(vst3_path), "--out", str(tmp_path), "--workers", "2")
    assert result.exit_code == 0, result.output
    assert audio_files(tmp_path) == audio_files(flags_run[0])
    for name in audio_files(tmp_path):
        assert (tmp_path / name).read_bytes() == (flags_run[0] / name).read_bytes(), name


def test_toml_job_with_post_chain_hits_the_loudness_target(vst3_path, tmp_path):
    import pyloudnorm

    (tmp_path / "job.toml").write_text(f"""
plugin = "{vst3_path}"
morph = [0.5]
notes = [60, 67]
length_s = 0.5
tail_s = 0.3
format = "flac"
bit_depth = 16
name = "m{{morph:.1f}}/n{{note}}"
[sources]
pairs = [["{BASS}", "{BELL}"]]
[params]
release_ms = 250.0
[[post]]
effect = "Reverb"
room_size = 0.3
[[post]]
effect = "trim"
threshold_dbfs = -50
[[post]]
effect = "fade_out"
ms = 20
[[post]]
effect = "loudness"
lufs = -20
""")
    result = invoke(str(tmp_path / "job.toml"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert [e["path"] for e in manifest["items"]] == ["m0.5/n60.flac", "m0.5/n67.flac"]
    for entry in manifest["items"]:
        audio, rate = sf.read(tmp_path / "out" / entry["path"], always_2d=True)
        assert sf.info(tmp_path / "out" / entry["path"]).subtype == "PCM_16"
        lufs = pyloudnorm.Meter(rate).integrated_loudness(audio)
        assert abs(lufs + 20) < 0.5 and abs(entry["lufs"] + 20) < 0.5, (lufs, entry["lufs"])
        before_fade = np.max(np.abs(audio[-int(0.04 * rate):-int(0.02 * rate)]))
        assert np.all(audio[-1] == 0) and np.max(np.abs(audio[-int(0.002 * rate):])) < 0.2 * before_fade, "no fade-out"
        assert entry["post"][0] == {"effect": "Reverb", "room_size": 0.3}
    assert manifest["settings"]["params"] == {"release_ms": 250.0}


def test_midi_phrase_renders_as_one_item(vst3_path, tmp_path):
    import mido

    midi = mido.MidiFile()
    track = mido.MidiTrack()
    midi.tracks.append(track)
    ticks = midi.ticks_per_beat  # 120 bpm: a beat is 0.5 s
    track += [mido.Message("note_on", note=60, velocity=100, time=0), mido.Message("note_off", note=60, time=ticks // 2),
              mido.Message("note_on", note=67, velocity=100, time=ticks // 2),
              mido.Message("note_off", note=67, time=ticks // 2)]
    midi.save(tmp_path / "phrase.mid")
    result = invoke("--a", BASS, "--b", BELL, "--morph", "0.5", "--notes", str(tmp_path / "phrase.mid"),
                    "--tail", "0.2", "--plugin", str(vst3_path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    (entry,) = json.loads((tmp_path / "out/manifest.json").read_text())["items"]
    assert entry["phrase"].endswith("phrase.mid") and entry["note"] is None
    audio, rate = sf.read(tmp_path / "out" / entry["path"])
    assert len(audio) == int(0.95 * rate)
    for start_s in (0.0, 0.5):  # both notes sound
        assert np.max(np.abs(audio[int(start_s * rate): int((start_s + 0.25) * rate)])) > 0.05


def test_melody_from_audio_transcribes_a_rendered_melody_and_replays_it_morphed(plugin, vst3_path, tmp_path):
    pytest.importorskip("basic_pitch", reason="basic-pitch is not installed: --melody-from not tested "
                        "(pip install --no-deps basic-pitch==0.4.0 && pip install -e '.[melody]')")
    mir_eval = pytest.importorskip("mir_eval", reason="mir_eval is not installed (pip install -e '.[melody]')")
    from latentmorph.render.melody import transcribe

    notes = [(n, 0.5 * i, 0.5 * i + 0.4) for i, n in enumerate([60, 64, 67, 72, 67, 64, 62, 60])]
    set_plugin_state(plugin, make_state(BASS, BELL))
    plugin.morph = 0.0  # the bass: a pitched timbre whose notes are known
    audio = plugin(note_messages(notes), duration=4.5, sample_rate=44100, num_channels=2, reset=True)
    sf.write(tmp_path / "melody.wav", audio.T, 44100)
    found = transcribe(tmp_path / "melody.wav")
    reference = np.array([(on, off) for _, on, off in notes]), mir_eval.util.midi_to_hz(np.array([n for n, _, _ in notes]))
    estimate = np.array([(on, off) for on, off, _, _ in found]), mir_eval.util.midi_to_hz(np.array([n for _, _, n, _ in found]))
    onset_f1 = mir_eval.transcription.onset_precision_recall_f1(reference[0], estimate[0])[2]
    pitch_f1 = mir_eval.transcription.precision_recall_f1_overlap(*reference, *estimate, offset_ratio=None)[2]
    assert onset_f1 >= 0.8 and pitch_f1 >= 0.8, (onset_f1, pitch_f1, found)
    result = invoke("--a", BASS, "--b", BELL, "--morph", "0.5", "--melody-from", str(tmp_path / "melody.wav"),
                    "--tail", "0.2", "--plugin", str(vst3_path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    (entry,) = json.loads((tmp_path / "out/manifest.json").read_text())["items"]
    assert entry["phrase"].endswith("melody.wav") and entry["morph"] == 0.5
    morphed, rate = sf.read(tmp_path / "out" / entry["path"])
    assert len(morphed) == int((max(off for _, off, _, _ in found) + 0.2) * rate)
    for _, on, _ in notes:  # every note of the melody sounds in the new timbre
        assert np.max(np.abs(morphed[int(on * rate): int((on + 0.3) * rate)])) > 0.05, on


def test_unreadable_sources_fail_their_items_with_the_reason_and_the_rest_renders(vst3_path, tmp_path):
    (tmp_path / "garbage.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    (tmp_path / "job.toml").write_text(f"""
morph = [0.0]
notes = [60]
length_s = 0.3
tail_s = 0.0
name = "{{pair}}_{{a}}_{{b}}"
[sources]
pairs = [["{tmp_path}/missing.wav", "{BELL}"], ["{KICK}", "{tmp_path}/garbage.wav"], ["{BASS}", "{BELL}"]]
""")
    result = invoke(str(tmp_path / "job.toml"), "--plugin", str(vst3_path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert [e["path"] for e in manifest["items"]] == ["2_bass_c4_bell_c4.wav"]
    reasons = {f["path"]: f["reason"] for f in manifest["failed"]}
    assert "file not found" in reasons["0_missing_bell_c4.wav"]
    assert "not a readable audio file" in reasons["1_kick_garbage.wav"]
    assert "failed: 0_missing_bell_c4.wav" in result.output


def test_ctrl_c_keeps_finished_items_and_the_next_run_resumes(vst3_path, tmp_path, monkeypatch):
    job = job_from_dict({"sources": {"pairs": [[KICK, BELL]]}, "morph": [0.0, 1.0], "notes": [60], "length_s": 0.3,
                         "tail_s": 0.0}, tmp_path)
    render_in_worker = workers._render_in_worker
    calls = []

    def interrupted_on_the_second(item):
        calls.append(item)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return render_in_worker(item)

    monkeypatch.setattr(workers, "_render_in_worker", interrupted_on_the_second)
    report = runner.run_job(job, tmp_path / "out", vst3_path)
    assert report.interrupted and report.rendered == 1
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert manifest["summary"]["interrupted"] and len(manifest["items"]) == 1
    monkeypatch.setattr(workers, "_render_in_worker", render_in_worker)
    resumed = runner.run_job(job, tmp_path / "out", vst3_path)
    assert (resumed.rendered, resumed.skipped, resumed.interrupted) == (1, 1, False)


def test_a_full_disk_fails_the_item_and_leaves_no_file_behind(plugin, tmp_path, monkeypatch):
    job = job_from_dict({"sources": {"pairs": [[BASS, BELL]]}, "morph": [0.5], "notes": [60], "length_s": 0.3,
                         "tail_s": 0.0}, tmp_path)
    write_bytes = Path.write_bytes

    def half_then_enospc(path, data):
        write_bytes(path, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_enospc)
    with pytest.raises(workers.ItemFailed, match="No space left on device"):
        workers.render_item(plugin, [], job.items[0], job, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # neither the file nor its temporary


def test_pool_workers_take_one_core_each_in_turn(vst3_path, tmp_path):
    """A pool's n-th worker pins itself to core n of the parent's set (wrapping around): unpinned,
    two workers on two cores finished half as many files per second."""
    job = job_from_dict({"sources": {"pairs": [[BASS, BELL]]}, "morph": [0.5], "notes": [60]}, tmp_path)
    cores = sorted(os.sched_getaffinity(0))
    counter = multiprocessing.get_context("spawn").Value("i", 0)
    try:
        for n in range(len(cores) + 1):
            workers._worker_setup(vst3_path, job, tmp_path, False, (counter, cores))
            assert os.sched_getaffinity(0) == {cores[n % len(cores)]}
    finally:
        os.sched_setaffinity(0, cores)


def test_re_creating_the_instance_for_each_render_keeps_the_plugins_threads(vst3_path):
    """pedalboard re-creates the instrument on every ``reset=True`` render; the idle instance
    :func:`workers.open_plugin` keeps lets the plugin's JUCE message and timer threads live on
    (without it they are stopped and started again on every render: ~10 ms of waiting)."""
    script = f"""
from pathlib import Path
from latentmorph.render.workers import open_plugin
def threads():
    return {{t.name for t in Path("/proc/self/task").iterdir() if (t / "comm").read_text().strip() == "JUCE Timer"}}
plugin = open_plugin(Path({str(vst3_path)!r}))
before = threads()
plugin([], duration=0.01, sample_rate=44100, num_channels=2, reset=True)
assert before and threads() == before, (before, threads())
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("text, key", [
    ("morph = [0.5]\nnotse = [60]\n[sources]\npairs = [['a.wav', 'b.wav']]", "notse"),
    ("notes = '84:36:12'\n[sources]\npairs = [['a.wav', 'b.wav']]", "notes"),
    ("morph = [0, 1.5]\n[sources]\npairs = [['a.wav', 'b.wav']]", "morph"),
    ("[sources]\npairs = [['a.wav']]", "sources.pairs[0]"),
    ("[sources]\ncross = [['nowhere', 'nowhere']]", "sources.cross[0]"),
    ("bit_depth = 32\n[sources]\npairs = [['a.wav', 'b.wav']]", "bit_depth"),
    ("format = 'flac'\nbit_depth = 'float'\n[sources]\npairs = [['a.wav', 'b.wav']]", "bit_depth"),
    ("name = '{a}'\nmorph = [0, 1]\n[sources]\npairs = [['a.wav', 'b.wav']]", "name"),
    ("name = '{colour}'\n[sources]\npairs = [['a.wav', 'b.wav']]", "name"),
    ("[sources]\npairs = [['a.wav', 'b.wav']]\n[[post]]\neffect = 'Reverb'\nroom_sise = 0.3", "post[0].room_sise"),
    ("[sources]\npairs = [['a.wav', 'b.wav']]\n[[post]]\neffect = 'Shimmer'", "post[0].effect"),
    ("[sources]\npairs = [['a.wav', 'b.wav']]\n[[post]]\neffect = 'loudness'\nlufs = 'loud'", "post[0].lufs"),
])
def test_bad_job_file_names_the_key(tmp_path, text, key):
    (tmp_path / "job.toml").write_text(text)
    with pytest.raises(JobError) as error:
        load_job(tmp_path / "job.toml")
    assert error.value.key == key
    result = invoke(str(tmp_path / "job.toml"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1 and f"key '{key}'" in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_toml_syntax_error_gives_the_line(tmp_path):
    (tmp_path / "job.toml").write_text("morph = [0.5]\nnotes = [60,\n[sources]\n")
    result = invoke(str(tmp_path / "job.toml"))
    assert result.exit_code == 1 and "line 3" in result.output, result.output


def test_notes_as_list_range_and_flags():
    assert parse_notes("36:84:12", SAMPLES_DIR) == [36, 48, 60, 72, 84]
    assert parse_notes("60,64,67", SAMPLES_DIR) == [60, 64, 67]
    assert parse_notes([60, 61], SAMPLES_DIR) == [60, 61]
    bad = invoke("--a", BASS, "--b", BELL, "--notes", "60,128")
    assert bad.exit_code == 1 and "--notes" in bad.output and "128" in bad.output, bad.output
    both = invoke("--a", BASS, "--b", BELL, "--notes", "60", "--melody-from", BELL)
    assert both.exit_code == 1 and "--notes or --melody-from, not both" in both.output, both.output


def test_missing_or_foreign_plugin_is_refused_before_anything_is_written(tmp_path):
    missing = invoke("--a", BASS, "--b", BELL, "--plugin", str(tmp_path / "Nope.vst3"), "--out", str(tmp_path / "o"))
    assert missing.exit_code == 1 and "plugin not found" in missing.output and "make build" in missing.output
    (tmp_path / "Fake.vst3").mkdir()
    fake = invoke("--a", BASS, "--b", BELL, "--plugin", str(tmp_path / "Fake.vst3"), "--out", str(tmp_path / "o"))
    assert fake.exit_code == 1 and "cannot load" in fake.output, fake.output
    assert not (tmp_path / "o").exists()


def test_default_plugin_is_the_built_one_or_a_clear_error(monkeypatch, tmp_path):
    if VST3_PATH.exists():
        assert runner.default_plugin_path() == VST3_PATH
    monkeypatch.setattr(runner, "REPO_ROOT", tmp_path)
    with pytest.raises(runner.RenderError, match="make build"):
        runner.default_plugin_path()


def test_unwritable_output_folder_and_missing_ray_fail_up_front(vst3_path, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    result = invoke(*FLAGS, "--plugin", str(vst3_path), "--out", str(tmp_path / "file" / "out"))
    assert result.exit_code == 1 and "not writable" in result.output, result.output
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    no_ray = invoke(*FLAGS, "--plugin", str(vst3_path), "--out", str(tmp_path / "o"), "--ray", "auto")
    assert no_ray.exit_code == 1 and "pip install -e '.[cluster]'" in no_ray.output, no_ray.output
    assert not (tmp_path / "o").exists()


def test_ray_tasks_on_a_local_instance_write_the_same_files_as_the_local_run(flags_run, vst3_path, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[cluster]'): --ray not tested")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = invoke(*FLAGS, "--plugin", str(vst3_path), "--out", str(tmp_path), "--ray", "auto", "--sfz")
        assert ray.is_initialized(), "run_job left a cluster it did not join"
    finally:
        ray.shutdown()
    assert result.exit_code == 0, result.output
    assert audio_files(tmp_path) == audio_files(flags_run[0])
    for name in audio_files(tmp_path):
        assert (tmp_path / name).read_bytes() == (flags_run[0] / name).read_bytes(), name
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [(e["path"], e["sha256"]) for e in manifest["items"]] == [(e["path"], e["sha256"]) for e in flags_run[1]["items"]]
    assert (tmp_path / "bass_c4_bell_c4.sfz").read_text() == (flags_run[0] / "bass_c4_bell_c4.sfz").read_text()


def test_readme_job_example_is_a_valid_job(tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = readme.split("# job.toml")[1].split("```")[0]
    for name in ("bass.wav", "bell.wav"):
        (tmp_path / name).write_bytes(b"")
    for folder, name in (("kicks", "k1.wav"), ("kicks", "k2.wav"), ("snares", "s1.wav")):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / name).write_bytes(b"")
    (tmp_path / "job.toml").write_text("#" + example)
    job = load_job(tmp_path / "job.toml")
    assert (job.sample_rate, job.bit_depth, len(job.post)) == (48000, 24, 2)
    assert len(job.items) == 3 * 2 * 3 * 5  # pairs (1 + 2 crossed) × velocities × morphs × notes
    assert job.items[0].path == "bass_bell/m0.00_n36_v64.wav"
