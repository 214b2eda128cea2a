"""Benchmarks (``make bench``): medians over repeats, written as JSON to ``out/bench.json``.

Not a test module (pytest does not collect it): timings are measured and reported, never asserted.

- ``backend_grid17_s``: two 2-s sources → 17-step grid in the backend process (uncached), via
  the protocol, so it includes decoding the files, encoding, one batched decode and the file write.
- ``backend_peak_rss_mb``: the backend process's peak resident set (``VmHWM``) after those renders.
- ``plugin_load_s``: ``pedalboard.load_plugin`` of the VST3.
- ``plugin_first_render_s``: first offline render after a slot change in a fresh host process
  (starts the backend, loads the model, renders the grid, plays one note of 1 s).
- ``plugin_slot_change_to_ready_s``: later slot changes with an already running backend.
- ``decoder_rtf`` / ``encoder_rtf``: seconds of audio per second of compute, one thread.
- ``library_*``: 3,000 synthetic 1-s one-shots indexed with all cores (files/s), re-indexed
  unchanged (s), database bytes per 1,000 files, one ``similar`` call (encode the query, load the
  cached ANN index, search); ANN query latency (ms, median of 200) and recall@10 against brute
  force on synthetic unit vectors of the embedding's size at 10k (exact) and 100k (HNSW) items; with Ray installed,
  the same index as Ray tasks on a fresh local instance (files/s including ``ray.init``).
- ``plugin_reopen_first_sound_*_s``: a reopened project (issue 13, item 6): its saved state restored
  into a fresh instance in a fresh host process (after an empty state, so pedalboard's own first-load
  cost is not counted), wall time until the end of the first rendered block
  of 512 samples (a note held from its start) that is not silent; ``cached`` with the state's
  ``<Grid>`` (the plugin reads the grid files itself), ``backend`` without it (the path before:
  start the backend, load the model, get the grid from its disk cache). Two 2-s slots (``line``)
  and four (``pad``, 9 × 9). Wall time across processes, so it includes what else the machine runs.
- ``engine_32_voices_*_pct``: the voice engine's audio-thread cost (``latentmorph_engine``, the
  plugin's processBlock minus the host) with 32 held voices, blocks of 128 samples at 48 kHz, as a
  percentage of the blocks' real-time budget, on a two-slot line grid and on a 9 × 9 XY pad of
  2-s renders (issue 13, item 7: ≤ 5 %); ``*_crossfading_pct``: the same voices all crossfading
  from one grid to another (a grid swap under held notes; each reads two grids) for 1 s, CPU time.
- ``similar_cli_*``: ``latentmorph similar`` run as a command (fresh process, wall time; ``*_cpu_s``:
  its user + system CPU time, steadier on a shared machine), median of ``CLI_REPEATS``, on a library
  of 200 one-shots: alone for a file the library holds (its stored vector: no ONNX Runtime) and for
  one it does not (decoded and embedded), and answered by a warm ``latentmorph library-server``;
  ``python_start_s``: ``python -c pass`` for scale.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO_ROOT = Path(__file__).resolve().parent.parent
VST3 = REPO_ROOT / "build/plugin/LatentMorph_artefacts/Release/VST3/LatentMorph.vst3"
SR = 44100
REPEATS = 5
#: Runs of each ``latentmorph similar`` command (start-up times scatter on a shared machine).
CLI_REPEATS = 15


def _sources(root: Path, count: int) -> list[tuple[Path, Path]]:
    """``count`` distinct pairs of 2-s sources (distinct content, so nothing is cached)."""
    rng = np.random.default_rng(0)
    t = np.arange(2 * SR) / SR
    pairs = []
    for i in range(count):
        a = 0.5 * np.sin(2 * np.pi * (110 + 10 * i) * t) * np.exp(-2 * t)
        b = 0.3 * rng.standard_normal(len(t)) * np.exp(-6 * t)
        pa, pb = root / f"a{i}.wav", root / f"b{i}.wav"
        sf.write(pa, a, SR)
        sf.write(pb, b, SR)
        pairs.append((pa, pb))
    return pairs


def bench_backend(pairs) -> dict:
    sys.path.insert(0, str(REPO_ROOT))
    from tests.test_backend import Backend

    server = Backend()
    pid = server.request("hello")["pid"]
    times = []
    for a, b in pairs:
        started = time.perf_counter()
        reply = server.request("render_grid", sources=[{"path": str(a)}, {"path": str(b)}], steps=17)
        times.append(time.perf_counter() - started)
        assert reply["ok"], reply
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])
    server.request("shutdown")
    return {"backend_grid17_s": statistics.median(times), "backend_peak_rss_mb": peak_kb / 1024}


def bench_model() -> dict:
    from latentmorph.model import MorphModel

    model = MorphModel.load(intra_op_threads=1)
    audio = np.random.default_rng(0).standard_normal((1, 4 * SR)).astype(np.float32) * 0.1
    z = model.encode(audio)
    enc, dec = [], []
    for _ in range(REPEATS):
        started = time.perf_counter()
        model.encode(audio)
        enc.append(time.perf_counter() - started)
        started = time.perf_counter()
        model.decode(z)
        dec.append(time.perf_counter() - started)
    return {"encoder_rtf": 4.0 / statistics.median(enc), "decoder_rtf": 4.0 / statistics.median(dec)}


_PLUGIN_SCRIPT = """
import json, sys, time
import pedalboard
from latentmorph.plugin_state import make_state, plugin_state, set_plugin_state
pairs = json.loads(sys.argv[1])
msgs = [(bytes([0x90, 60, 100]), 0.0), (bytes([0x80, 60, 0]), 0.5)]
started = time.perf_counter()
p = pedalboard.load_plugin(sys.argv[2], initialization_timeout=0.1)
out = {"plugin_load_s": time.perf_counter() - started, "slot_change_s": []}
for i, (a, b) in enumerate(pairs):
    set_plugin_state(p, make_state(a, b))
    started = time.perf_counter()
    p(msgs, duration=1.0, sample_rate=44100, num_channels=2, reset=True)
    elapsed = time.perf_counter() - started
    assert plugin_state(p).status["state"] == "ready", plugin_state(p).status
    if i == 0:
        out["plugin_first_render_s"] = elapsed
    else:
        out["slot_change_s"].append(elapsed)
print(json.dumps(out))
"""


_REOPEN_SCRIPT = """
import json, sys, time
import numpy as np, pedalboard
from latentmorph.plugin_state import make_state, read_component_state, set_plugin_state
state_file, vst3, sources = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
p = pedalboard.load_plugin(vst3, initialization_timeout=0.1)
if sources:  # the project's first session: render its grid, save its state
    set_plugin_state(p, make_state(*sources[:2], slot_c=sources[2] if len(sources) > 2 else None,
                                   slot_d=sources[3] if len(sources) > 3 else None))
    p([], duration=0.1, sample_rate=44100, num_channels=2, reset=False)
    open(state_file, "wb").write(read_component_state(p))
    raise SystemExit
state = open(state_file, "rb").read()
set_plugin_state(p, make_state("", ""))  # the host's first state load (0.2-0.4 s of pedalboard's own), not timed
started = time.perf_counter()
set_plugin_state(p, state)
while time.perf_counter() - started < 60:
    block = p([(bytes([0x90, 60, 100]), 0.0)], duration=512 / 44100, sample_rate=44100, num_channels=2, buffer_size=512,
              reset=False)
    if np.max(np.abs(block)) > 1e-4:
        break
print(json.dumps(time.perf_counter() - started))
"""


def _without_grid(state: bytes) -> bytes:
    """A state as the plugin wrote it before ``<Grid>`` (docs/state.md)."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(state.split(b"\0", 1)[0])
    grid = root.find("Grid")
    assert grid is not None, "the plugin saved no <Grid>"
    root.remove(grid)
    return ET.tostring(root, encoding="utf-8")


def bench_reopen(root: Path, pairs) -> dict:
    """Median time to the first sound of a reopened project, with the plugin's cached grid and without."""
    results = {}
    for name, sources in (("line", list(pairs[0])), ("pad", [*pairs[0], *pairs[1]])):
        saved, old = root / f"reopen_{name}.xml", root / f"reopen_{name}_old.xml"
        subprocess.run([sys.executable, "-c", _REOPEN_SCRIPT, str(saved), str(VST3), json.dumps([str(s) for s in sources])],
                       check=True, capture_output=True)
        old.write_bytes(_without_grid(saved.read_bytes()))
        times: dict[str, list[float]] = {"cached": [], "backend": []}
        for _ in range(REPEATS):
            for kind, state in (("cached", saved), ("backend", old)):
                result = subprocess.run([sys.executable, "-c", _REOPEN_SCRIPT, str(state), str(VST3), "[]"], check=True,
                                        capture_output=True, text=True)
                times[kind].append(json.loads(result.stdout.strip().splitlines()[-1]))
        for kind, values in times.items():
            results[f"plugin_reopen_first_sound_{name}_{kind}_s"] = statistics.median(values)
    return results


def bench_engine(voices: int = 32, block_size: int = 128, host_rate_hz: int = 48000, seconds: float = 4.0) -> dict:
    sys.path.insert(0, str(REPO_ROOT / "build" / "python"))
    import latentmorph_engine

    results = {}
    rng = np.random.default_rng(0)
    for name, pad_size, rows in (("line", 0, 17), ("pad", 9, 81)):
        engine = latentmorph_engine.Engine(polyphony=64)
        engine.prepare(host_rate_hz, block_size)
        renders = (0.1 * rng.standard_normal((rows, 2 * SR))).astype(np.float32)
        engine.set_grid(renders, SR, pad_size=pad_size)
        engine.loop_mode = 1  # a sustain loop: all 32 voices sound for the whole render
        engine.morph, engine.morph_y = 0.37, 0.61
        notes = [(0, 36 + i, 100, True) for i in range(voices)]
        num_samples = int(seconds * host_rate_hz)
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            engine.render(num_samples, notes, block_size=block_size)
            times.append(time.perf_counter() - started)
        results[f"engine_{voices}_voices_{name}_pct"] = 100.0 * statistics.median(times) / seconds
        results[f"engine_{voices}_voices_{name}_crossfading_pct"] = _crossfading_pct(engine, renders, pad_size, voices, block_size, host_rate_hz)
    return results


def _crossfading_pct(engine, renders, pad_size: int, voices: int, block_size: int, host_rate_hz: int, seconds: float = 1.0) -> float:
    """The worst case of a grid swap: every held voice crossfading between two grids (reading both) for
    the whole render. A grid is published each 15-ms fade (kGridCrossfadeMs), alternately another and
    back; the renders between are timed in CPU time (the machine is shared), the publishes not."""
    fade = round(0.015 * host_rate_hz)
    other = np.ascontiguousarray(renders[:, ::-1])
    engine.render(block_size, [(0, 36 + i, 100, True) for i in range(voices)])
    cpu = 0.0
    for k in range(int(seconds * host_rate_hz) // fade):
        engine.set_grid(other if k % 2 == 0 else renders, SR, pad_size=pad_size)
        started = time.process_time()
        engine.render(fade, block_size=block_size, reset=False)
        cpu += time.process_time() - started
    return 100.0 * cpu / seconds


def bench_plugin(pairs) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "LATENTMORPH_CACHE_DIR": cache}
        result = subprocess.run([sys.executable, "-c", _PLUGIN_SCRIPT, json.dumps([[str(a), str(b)] for a, b in pairs]),
                                 str(VST3)], capture_output=True, text=True, env=env, check=True)
    out = json.loads(result.stdout.strip().splitlines()[-1])
    return {"plugin_load_s": out["plugin_load_s"], "plugin_first_render_s": out["plugin_first_render_s"],
            "plugin_slot_change_to_ready_s": statistics.median(out["slot_change_s"])}


LIBRARY_FILES = 3000


def _one_shots(root: Path, count: int) -> None:
    """``count`` distinct synthetic 1-s one-shots: decaying partials or noise bursts, 16-bit WAV."""
    rng = np.random.default_rng(1)
    t = np.arange(SR) / SR
    for i in range(count):
        if i % 2:
            audio = np.sin(2 * np.pi * rng.uniform(40, 2000) * t * (1 + rng.uniform(0, 0.5) * np.exp(-20 * t)))
        else:
            audio = rng.standard_normal(SR)
        audio *= 0.5 * np.exp(-rng.uniform(2, 30) * t)
        folder = root / f"{i // 100:02d}"
        folder.mkdir(exist_ok=True)
        sf.write(folder / f"shot_{i:04d}.wav", audio, SR, subtype="PCM_16")


def bench_library(root: Path) -> dict:
    """Index ``LIBRARY_FILES`` 1-s one-shots (all cores), re-index them unchanged, query the library;
    ANN query latency on synthetic unit vectors at 10k and 100k items (exact / HNSW)."""
    from latentmorph.library.embedding import embed_audio
    from latentmorph.library.indexer import index_paths
    from latentmorph.library.search import AnnIndex, similar
    from latentmorph.library.similarity_model import get_similarity_model

    shots, db = root / "shots", root / "library.sqlite"
    shots.mkdir()
    _one_shots(shots, LIBRARY_FILES)
    report = index_paths([shots], db, progress=False)
    unchanged = index_paths([shots], db, progress=False)
    started = time.perf_counter()  # the same from the command line: interpreter, imports, model load
    subprocess.run([sys.executable, "-m", "latentmorph.cli", "index", str(shots), "--db", str(db), "--json"],
                   check=True, capture_output=True)
    unchanged_cli_s = time.perf_counter() - started
    query = shots / "00" / "shot_0001.wav"
    similar(db, query)  # builds and caches the ANN index
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        similar(db, query)
        times.append(time.perf_counter() - started)
    out = {"library_index_files_per_s": report.added / report.seconds, "library_index_failed": report.failed,
           "library_reindex_unchanged_3000_files_s": unchanged.seconds,
           "library_reindex_unchanged_3000_files_cli_s": unchanged_cli_s,
           "library_db_bytes_per_1000_files": db.stat().st_size * 1000 / LIBRARY_FILES,
           "library_similar_call_s": statistics.median(times)}
    dim = embed_audio(get_similarity_model(), np.random.default_rng(2).standard_normal(SR).astype(np.float32))[0].embedding.size
    out["library_embedding_dim"] = dim
    rng = np.random.default_rng(0)
    for count in (10_000, 100_000):
        vectors = rng.standard_normal((count, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        started = time.perf_counter()
        ann = AnnIndex.build(np.arange(count, dtype=np.int64), vectors)
        build_s = time.perf_counter() - started
        queries = vectors[:200] + 0.5 * rng.standard_normal((200, dim)).astype(np.float32) / 8
        latencies, recall = [], []
        for q in queries / np.linalg.norm(queries, axis=1, keepdims=True):
            started = time.perf_counter()
            hits = ann.search(q, 10)
            latencies.append(time.perf_counter() - started)
            recall.append(len({i for i, _ in hits} & set(np.argsort(-(vectors @ q))[:10])) / 10)
        name = f"library_query_{count // 1000}k"
        out.update({f"{name}_ms": 1000 * statistics.median(latencies), f"{name}_recall_at_10": float(np.mean(recall)),
                    f"{name}_index_build_s": build_s, f"{name}_index": "exact (NumPy)" if ann.index is None else type(ann.index).__name__})
    return out


def bench_library_ray(root: Path, count: int = 200) -> dict:
    """The same index as Ray tasks on a fresh local Ray instance (skipped without ``ray``):
    files/s including ``ray.init``, and the largest difference from the process-pool embeddings."""
    try:
        import ray
    except ImportError:
        return {"library_ray": "not installed (pip install 'latentmorph[cluster]')"}
    from latentmorph.library.indexer import index_paths
    from latentmorph.library.store import Library

    shots = root / "ray_shots"
    shots.mkdir()
    _one_shots(shots, count)
    embeddings = []
    for db, address in ((root / "pool.sqlite", None), (root / "ray.sqlite", "local")):
        started = time.perf_counter()
        report = index_paths([shots], db, ray_address=address, progress=False)
        seconds = time.perf_counter() - started
        with Library.open(db) as library:
            embeddings.append({it.path: it.embedding for it in library.items()})
    ray.shutdown()
    difference = max(float(np.abs(embeddings[0][p] - embeddings[1][p]).max()) for p in embeddings[0])
    return {"library_ray_local_files_per_s": report.added / seconds, "library_ray_vs_pool_max_abs_diff": difference}


def bench_similar_cli(root: Path, files: int = 200) -> dict:
    """``latentmorph similar`` as a user runs it (a fresh process, wall time including start-up, and
    its CPU time): for an indexed and an unindexed query alone, and answered by a warm
    ``latentmorph library-server``."""
    import resource
    import shutil

    shots, db = root / "cli_shots", root / "cli.sqlite"
    shots.mkdir()
    _one_shots(shots, files)
    subprocess.run([sys.executable, "-m", "latentmorph.cli", "index", str(shots), "--db", str(db), "--json"],
                   check=True, capture_output=True)
    outside = root / "not_indexed.wav"
    shutil.copy(shots / "00" / "shot_0002.wav", outside)
    env = {**os.environ, "LATENTMORPH_LIBRARY_SOCKET": str(root / "library.sock")}
    latentmorph = str(Path(sys.executable).with_name("latentmorph"))

    def medians(command: list[str]) -> tuple[float, float]:
        """Median wall and CPU seconds of ``command`` over ``CLI_REPEATS`` runs."""
        wall, cpu = [], []
        for _ in range(CLI_REPEATS):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            wall.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return statistics.median(wall), statistics.median(cpu)

    out = {}
    queries = {"indexed": shots / "00" / "shot_0001.wav", "unindexed": outside}
    for name, query in queries.items():
        wall, cpu = medians([latentmorph, "similar", str(query), "--db", str(db), "--json"])
        out[f"similar_cli_cold_{name}_s"], out[f"similar_cli_cold_{name}_cpu_s"] = wall, cpu
    out["python_start_s"] = medians([sys.executable, "-c", "pass"])[0]
    server = subprocess.Popen([sys.executable, "-m", "latentmorph.cli", "library-server", "--idle-s", "120"],
                              env=env, stderr=subprocess.DEVNULL)
    try:
        while not (root / "library.sock").exists():
            time.sleep(0.05)
        command = [latentmorph, "similar", str(queries["indexed"]), "--db", str(db), "--json"]
        out["similar_cli_warm_server_s"], out["similar_cli_warm_server_cpu_s"] = medians(command)
    finally:
        server.terminate()
        server.wait()
    return out


def main() -> None:
    from latentmorph.model import get_model

    out_path = REPO_ROOT / "out" / "bench.json"
    out_path.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LATENTMORPH_CACHE_DIR"] = str(Path(tmp) / "cache")
        pairs = _sources(Path(tmp), 2 * REPEATS + 1)
        results = {"model_id": get_model().model_id, "machine": platform.processor() or platform.machine(),
                   "cpu_count": os.cpu_count(), "repeats": REPEATS}
        results.update(bench_model())
        results.update(bench_engine())
        results.update(bench_backend(pairs[:REPEATS]))
        results.update(bench_plugin(pairs[REPEATS:]))
        results.update(bench_reopen(Path(tmp), pairs[REPEATS:]))
        results.update(bench_library(Path(tmp)))
        results.update(bench_similar_cli(Path(tmp)))
        results.update(bench_library_ray(Path(tmp)))
    out_path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
