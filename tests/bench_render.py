"""Batch-render and soak benchmarks of ``make bench`` (issues 10 and 12), merged into ``out/bench.json``.

Not a test module (pytest does not collect it): figures are measured and reported, never asserted.
On a loaded machine timings are noisy; the ratios (scaling, Ray overhead) come from runs of one
invocation, one after the other.

Render (issue 10). The job: the factory ``bass_c4`` → ``bell_c4`` pair × 5 morph positions × 13
notes (36…84, every 4) × 1 s (0.75 s held, 0.25 s tail): 65 files, 65 s of audio, 24-bit WAV, no post
chain. Medians of ``RENDER_REPEATS`` runs, each into a fresh folder, the grid cached:

Every run but Ray's is a fresh (spawned) host process whose backend is warmed up first (started,
model and grid loaded); a pool's workers start their own, and that counts in its run.

- ``render_grid_s``: the pair's 17-step grid with an empty cache (slot change to ``ready``), on one
  core, the backend already running with its model loaded.
- ``render_one_core_s``, ``render_one_core_rtf``: the job's rendering (``RunReport.render_s``) in a
  process pinned to one core (the plugin's backend inherits the pinning); audio seconds per second.
  ``render_one_core_job_s``: the whole run (plugin load, hashing, manifest; not the contact sheet).
  ``render_one_core_cpu_rtf``: audio seconds per CPU second (host and backend) of the same items:
  the one-core figure without the other processes' load.
- ``render_workers_1_s``, ``render_workers_2_s``, ``render_scaling_2_workers``: the whole run
  (``RunReport.seconds``: the pool's worker start, plugin loads and backend starts included) with
  1 and 2 workers. ``render_*_items_per_s``: files finished per second from the first to the last
  (their modification times): the throughput once running; ``render_scaling_2_workers_steady``
  is its ratio. ``render_*_first_file_s``: from calling ``run_job`` to the first file written
  (plugin load, hashing, model id; a pool's workers: process start, imports, plugin load, backend
  start): what the whole-run ratio pays that the steady one does not.
- ``render_ray_init_s``: ``ray.init(num_cpus=2)`` of a local instance (once); ``render_ray_s``: the
  whole run as Ray tasks on it; ``render_ray_overhead``: ``render_ray_s / render_workers_2_s - 1``.
  Ray keeps its workers and their plugins between runs: ``render_ray_first_s`` and
  ``render_ray_first_overhead`` are the first run's (cold workers, like the pool's).
- ``render_bit_identical``: every run of every kind wrote the same bytes.

Soak (issue 12), ``LATENTMORPH_SOAK_S`` seconds (default 600) in a fresh host process: one plugin
instance; 0.5-s renders of two random notes, random ``morph``/``gain_db``/``release_ms``/``attack_ms``
set before each (automation), a slot change to a random pair of 10 sources and a random ``detail``
(3 values: up to 270 different grids) every ``SOAK_RENDERS_PER_SLOT_CHANGE`` renders; the grid cache
capped at ``SOAK_CACHE_MAX_BYTES`` (grids used in the last minute are never evicted):

- ``soak_renders``, ``soak_slot_changes``, ``soak_errors`` (a render that raised, or a status of
  ``error``), ``soak_s``;
- ``soak_host_rss_mb`` / ``soak_backend_rss_mb``: ``[after warm-up, end]`` (medians of the samples in
  the first 10 % after the warm-up and in the last 10 %), ``soak_*_rss_growth_pct`` between them (goal
  < 5 %); the warm-up is the first ``SOAK_WARMUP_FRACTION`` of the run;
- ``soak_cache_mb_max`` / ``soak_cache_mb_end`` and ``soak_cache_grids_end``.

Usage: ``python tests/bench_render.py [render|soak]`` (default both).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from latentmorph import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
VST3 = REPO_ROOT / "build/plugin/LatentMorph_artefacts/Release/VST3/LatentMorph.vst3"
SAMPLES = REPO_ROOT / "presets/samples"
BENCH_JSON = REPO_ROOT / "out/bench.json"
SR = 44100
RENDER_REPEATS = 3
JOB = {"sources": {"pairs": [[str(SAMPLES / "bass_c4.wav"), str(SAMPLES / "bell_c4.wav")]]},
       "morph": [0.0, 0.25, 0.5, 0.75, 1.0], "notes": "36:84:4", "length_s": 0.75, "tail_s": 0.25}
SOAK_S = settings.soak_s()
SOAK_RENDER_S, SOAK_RENDERS_PER_SLOT_CHANGE = 0.5, 10
SOAK_WARMUP_FRACTION, SOAK_WINDOW_FRACTION, SOAK_SAMPLE_EVERY_S, SOAK_LOG_EVERY_S = 0.2, 0.1, 2.0, 30.0
SOAK_CACHE_MAX_BYTES = 64_000_000
#: Automated parameters and their ranges during the soak.
SOAK_AUTOMATION = {"morph": (0.0, 1.0), "gain_db": (-12.0, 0.0), "release_ms": (5.0, 500.0), "attack_ms": (0.0, 50.0)}
#: ``detail`` changes the grid (a new one is rendered): set with the slots, from these values.
SOAK_DETAILS = (0.0, 0.5, 1.0)


def _job():
    from latentmorph.render.job import job_from_dict

    return job_from_dict(JOB, REPO_ROOT)


def _file_hashes(out_dir: Path) -> dict[str, str]:
    """``path`` → SHA-256 of each file a run wrote (its manifest; no item may have failed)."""
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert not manifest["failed"], manifest["failed"]
    return {entry["path"]: entry["sha256"] for entry in manifest["items"]}


def _grid_one_core(cache_dir: str) -> float:
    """In a spawned process pinned to one core: slot change to ``ready`` of the job's pair with
    nothing cached, after another pair has started the backend and loaded its model."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ["LATENTMORPH_CACHE_DIR"] = cache_dir
    from latentmorph.plugin_state import make_state, plugin_state, set_plugin_state
    from latentmorph.render.workers import open_plugin

    plugin = open_plugin(VST3)
    for pair in ((SAMPLES / "kick.wav", SAMPLES / "snare.wav"), tuple(JOB["sources"]["pairs"][0])):
        set_plugin_state(plugin, make_state(*pair))
        started = time.perf_counter()
        plugin([], duration=0.01, sample_rate=SR, num_channels=2, reset=True)  # offline it waits for the grid
        grid_s = time.perf_counter() - started
        assert plugin_state(plugin).status["state"] == "ready", plugin_state(plugin).status
    return grid_s


def _run(out_dir: str, cache_dir: str, workers: int, one_core: bool) -> dict:
    """In a spawned process: the job once, with this process's backend warm (started, model and
    grid loaded by a plugin instance kept open); pool workers start their own. Returns the run's
    ``seconds``, ``render_s``, ``audio_s``, ``items_per_s`` and file hashes."""
    if one_core:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.environ["LATENTMORPH_CACHE_DIR"] = cache_dir
    from latentmorph.plugin_state import make_state, set_plugin_state
    from latentmorph.render.runner import run_job
    from latentmorph.render.workers import open_plugin

    warm = open_plugin(VST3)
    set_plugin_state(warm, make_state(*JOB["sources"]["pairs"][0]))
    warm([], duration=0.01, sample_rate=SR, num_channels=2, reset=True)
    started = time.time()
    report = run_job(_job(), Path(out_dir), VST3, workers=workers)
    out = {"seconds": report.seconds, "render_s": report.render_s, "audio_s": report.audio_s,
           "items_per_s": _steady_items_per_s(Path(out_dir)), "hashes": _file_hashes(Path(out_dir)),
           "first_file_s": min(p.stat().st_mtime for p in Path(out_dir).glob("*.wav")) - started}
    if one_core:
        out["cpu_rtf"] = _cpu_rtf(warm, Path(out_dir) / "cpu")
    return out


def _cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_rtf(plugin, out_dir: Path) -> float:
    """Audio seconds per CPU second (this process and its backend) of the job's items rendered with
    :func:`latentmorph.render.workers.render_item` (post chain, loudness, file write included):
    what one free core would do, whatever else runs on the machine."""
    from latentmorph.render.post import build_chain
    from latentmorph.render.workers import render_item

    job, backend = _job(), _backend_pid()
    steps = build_chain(job.post)
    before = _cpu_s() + _cpu_s(backend)
    for item in job.items:
        render_item(plugin, steps, item, job, out_dir)
    return sum(item.duration_s for item in job.items) / (_cpu_s() + _cpu_s(backend) - before)


def _steady_items_per_s(out_dir: Path) -> float:
    """Files finished per second between the first and the last one (their modification times):
    the throughput once the workers run, without their start."""
    times_ns = sorted(p.stat().st_mtime_ns for p in out_dir.glob("*.wav"))
    return (len(times_ns) - 1) / ((times_ns[-1] - times_ns[0]) / 1e9)


def bench_render(root: Path) -> dict:
    """The render figures of the module docstring."""
    from latentmorph.render.runner import run_job

    cache = str(root / "cache")
    os.environ["LATENTMORPH_CACHE_DIR"] = cache
    runs: dict[str, list[dict]] = {}
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1) as pool:
        out = {"render_grid_s": pool.submit(_grid_one_core, cache).result()}
        for kind, workers, one_core in (("one_core", 1, True), ("workers_1", 1, False), ("workers_2", 2, False)):
            for i in range(RENDER_REPEATS):
                runs.setdefault(kind, []).append(
                    pool.submit(_run, str(root / f"{kind}_{i}"), cache, workers, one_core).result())
    try:
        import ray
    except ImportError:
        out["render_ray"] = "not installed (pip install -e '.[cluster]')"
    else:
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        out["render_ray_init_s"] = time.perf_counter() - started
        try:
            for i in range(RENDER_REPEATS):
                report = run_job(_job(), root / f"ray_{i}", VST3, ray_address="auto")
                runs.setdefault("ray", []).append({"seconds": report.seconds, "hashes": _file_hashes(root / f"ray_{i}"),
                                                   "items_per_s": _steady_items_per_s(root / f"ray_{i}")})
        finally:
            ray.shutdown()
    one_core = runs["one_core"]
    out.update(render_one_core_s=statistics.median(r["render_s"] for r in one_core),
               render_one_core_rtf=statistics.median(r["audio_s"] / r["render_s"] for r in one_core),
               render_one_core_job_s=statistics.median(r["seconds"] for r in one_core),
               render_one_core_cpu_rtf=statistics.median(r["cpu_rtf"] for r in one_core))
    out.update({f"render_{kind}_s": statistics.median(r["seconds"] for r in runs[kind]) for kind in runs
                if kind != "one_core"})
    out.update({f"render_{kind}_items_per_s": statistics.median(r["items_per_s"] for r in runs[kind]) for kind in runs})
    out.update({f"render_{kind}_first_file_s": statistics.median(r["first_file_s"] for r in runs[kind])
                for kind in ("one_core", "workers_1", "workers_2")})
    out["render_scaling_2_workers"] = out["render_workers_1_s"] / out["render_workers_2_s"]
    out["render_scaling_2_workers_steady"] = out["render_workers_2_items_per_s"] / out["render_workers_1_items_per_s"]
    if "ray" in runs:
        out["render_ray_first_s"] = runs["ray"][0]["seconds"]
        out["render_ray_overhead"] = out["render_ray_s"] / out["render_workers_2_s"] - 1
        out["render_ray_first_overhead"] = out["render_ray_first_s"] / out["render_workers_2_s"] - 1
    hashes = [r["hashes"] for kind in runs.values() for r in kind]
    out["render_bit_identical"] = len(hashes[0]) == 65 and all(h == hashes[0] for h in hashes)
    out["render_job"] = "bass_c4 -> bell_c4, 5 morphs x 13 notes x 1 s (65 files)"
    return out


# ---- soak ------------------------------------------------------------------------------------

def _rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        return 1024 * int(next(line for line in status if line.startswith("VmRSS:")).split()[1])


def _backend_pid() -> int:
    """The plugin's backend: the child of this process running ``latentmorph.server``."""
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid()
                    and b"latentmorph.server" in (entry / "cmdline").read_bytes()):
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    raise RuntimeError("the plugin's backend process was not found")


def _cache_size(cache_dir: Path) -> tuple[int, int]:
    """Bytes and grid files in the cache."""
    files = [p for p in cache_dir.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), sum(p.suffix == ".lmgrid" for p in files)


def _soak_sources(root: Path) -> list[Path]:
    """The 4 factory samples and 6 synthetic 1-s sources (decaying tones and noise)."""
    rng = np.random.default_rng(3)
    t = np.arange(SR) / SR
    paths = sorted(SAMPLES.glob("*.wav"))
    for i in range(6):
        audio = (np.sin(2 * np.pi * rng.uniform(80, 800) * t) if i % 2 else rng.standard_normal(SR)) * np.exp(-4 * t)
        paths.append(root / f"soak_{i}.wav")
        sf.write(paths[-1], 0.5 * audio, SR)
    return paths


def _window_median(samples: list[tuple[float, int]], start_s: float, end_s: float) -> float:
    return statistics.median(v for t, v in samples if start_s <= t <= end_s)


def _soak(seconds: float, root: str) -> dict:
    """In a spawned process: the soak of the module docstring."""
    cache_dir = Path(root) / "soak_cache"
    os.environ.update(LATENTMORPH_CACHE_DIR=str(cache_dir), LATENTMORPH_CACHE_MAX_BYTES=str(SOAK_CACHE_MAX_BYTES))
    from latentmorph.plugin_state import make_state, plugin_state, set_plugin_state
    from latentmorph.render.workers import open_plugin

    rng = np.random.default_rng(0)
    sources = _soak_sources(Path(root))
    plugin = open_plugin(VST3)
    host, backend, cache_max = [], [], 0
    counts = {"renders": 0, "slot_changes": 0, "errors": 0}
    started = last_sample = last_log = time.perf_counter()
    while (now := time.perf_counter()) - started < seconds:
        if counts["renders"] % SOAK_RENDERS_PER_SLOT_CHANGE == 0:
            a, b = rng.choice(len(sources), 2, replace=False)
            set_plugin_state(plugin, make_state(sources[a], sources[b], {"detail": float(rng.choice(SOAK_DETAILS))}))
            counts["slot_changes"] += 1
        for name, (low, high) in SOAK_AUTOMATION.items():
            setattr(plugin, name, float(rng.uniform(low, high)))
        notes = rng.integers(36, 85, 2)
        messages = [(bytes([0x90, int(n), 100]), 0.0) for n in notes] + [(bytes([0x80, int(n), 0]), 0.3) for n in notes]
        try:
            plugin(messages, duration=SOAK_RENDER_S, sample_rate=SR, num_channels=2, reset=True)
            counts["errors"] += plugin_state(plugin).status.get("state") == "error"
        except (RuntimeError, ValueError):
            counts["errors"] += 1
        counts["renders"] += 1
        if now - last_sample >= SOAK_SAMPLE_EVERY_S:
            last_sample = now
            host.append((now - started, _rss_bytes()))
            backend.append((now - started, _rss_bytes(_backend_pid())))
            cache_max = max(cache_max, _cache_size(cache_dir)[0])
        if now - last_log >= SOAK_LOG_EVERY_S:
            last_log = now
            print(f"soak: {now - started:.0f}/{seconds:.0f} s, {counts['renders']} renders, {counts['slot_changes']} "
                  f"slot changes, {counts['errors']} errors, host {host[-1][1] / 1e6:.0f} MB, backend "
                  f"{backend[-1][1] / 1e6:.0f} MB, cache {cache_max / 1e6:.0f} MB max", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    host.append((elapsed, _rss_bytes()))
    backend.append((elapsed, _rss_bytes(_backend_pid())))
    warm_s, window_s = SOAK_WARMUP_FRACTION * elapsed, max(SOAK_WINDOW_FRACTION * elapsed, 2 * SOAK_SAMPLE_EVERY_S)
    out = {f"soak_{k}": v for k, v in counts.items()}
    out.update(soak_s=elapsed, soak_warmup_s=warm_s, soak_cache_max_bytes_setting=SOAK_CACHE_MAX_BYTES)
    for name, samples in (("host", host), ("backend", backend)):
        after_warmup = _window_median(samples, warm_s, warm_s + window_s)
        end = _window_median(samples, elapsed - window_s, elapsed)
        out[f"soak_{name}_rss_mb"] = [after_warmup / 1e6, end / 1e6]
        out[f"soak_{name}_rss_growth_pct"] = 100 * (end - after_warmup) / after_warmup
    cache_end, grids = _cache_size(cache_dir)
    out.update(soak_cache_mb_max=max(cache_max, cache_end) / 1e6, soak_cache_mb_end=cache_end / 1e6,
               soak_cache_grids_end=grids)
    return out


def bench_soak(root: Path, seconds: float = SOAK_S) -> dict:
    """The soak figures of the module docstring, from a fresh host process."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_soak, seconds, str(root)).result()


def main() -> None:
    sections = sys.argv[1:] or ["render", "soak"]
    unknown = set(sections) - {"render", "soak"}
    if unknown:
        sys.exit(f"unknown section(s) {', '.join(sorted(unknown))}: give render and/or soak")
    results = json.loads(BENCH_JSON.read_text()) if BENCH_JSON.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        if "render" in sections:
            results.update(bench_render(Path(tmp)))
        if "soak" in sections:
            results.update(bench_soak(Path(tmp)))
    BENCH_JSON.parent.mkdir(exist_ok=True)
    BENCH_JSON.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k.startswith(("render_", "soak_"))}, indent=2))
    print(f"wrote {BENCH_JSON}")


if __name__ == "__main__":
    main()
