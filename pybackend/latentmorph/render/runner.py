"""Rendering a job through the real VST3 (:mod:`.workers` renders the items), resumable.

A re-run skips an item when ``manifest.json`` holds it under the same key — a SHA-256 of the item,
its sources' SHA-256, the settings, the plugin binary and the model id — and its file is unchanged.
Finished items are appended to a journal beside the manifest as they finish, so a killed run loses
only the items in flight.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..audio import AudioLoadError, check_audio_file, sha256_file
from . import RenderError
from .job import Item, Job, JobError
from .outputs import MANIFEST_NAME, TEMP_SUFFIX, is_finished, read_manifest_items, remove_temp_files, write_json
from .workers import connect_ray, disconnect_ray, open_plugin, run_in_process, run_pool, run_ray

REPO_ROOT = Path(__file__).resolve().parents[3]
#: Where ``make build`` puts the VST3, relative to the repository.
BUILT_PLUGIN = Path("build/plugin/LatentMorph_artefacts/Release/VST3/LatentMorph.vst3")
#: Changes whenever rendering or keying changes, so that a re-run renders everything again.
RENDER_VERSION = 1
JOURNAL_NAME = ".render-journal.jsonl"


@dataclasses.dataclass
class RunReport:
    """One run: counts, ``failed`` ``(path, reason)``, wall ``seconds`` (to the manifest, without the
    contact sheet and SFZ), ``render_s`` of them spent rendering (from starting the first item, pool
    or Ray start included, to finishing the last; in this process, the post chain, the loudness
    meter and the first item's grid are set up before), ``audio_s`` rendered, whether it was
    ``interrupted``, and the ``outputs`` written (manifest, contact sheet, SFZ)."""

    rendered: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    render_s: float = 0.0
    audio_s: float = 0.0
    interrupted: bool = False
    outputs: list[Path] = dataclasses.field(default_factory=list)


def default_plugin_path() -> Path:
    """The VST3 that ``make build`` builds in this repository. Raises :class:`RenderError` when it
    is not there (not built, or the package runs outside the repository)."""
    path = REPO_ROOT / BUILT_PLUGIN
    if not path.exists():
        raise RenderError(f"no VST3 at {path}: run `make build`, or give --plugin PATH.vst3")
    return path


def plugin_binary_sha256(path: Path) -> str:
    """SHA-256 over the files of a VST3 bundle (or the file), in path order: a rebuild changes it."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(bytes.fromhex(sha256_file(file)))
    return digest.hexdigest()


def item_key(item: Item, source_sha256: tuple[str, str], job: Job, plugin_sha256: str, model_id: str) -> str:
    """SHA-256 naming everything a render depends on; equal keys render equal files."""
    data = {
        "version": RENDER_VERSION,
        "path": item.path,
        "morph": item.morph,
        "duration_s": item.duration_s,
        "messages": [(m.hex(), t) for m, t in item.messages],
        "sources": source_sha256,
        "sample_rate": job.sample_rate,
        "bit_depth": job.bit_depth,
        "format": job.file_format,
        "params": job.params,
        "post": job.post,
        "plugin": plugin_sha256,
        "model": model_id,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


# ---- the run ---------------------------------------------------------------------------------


def check_output_folder(out_dir: Path) -> None:
    """Create ``out_dir`` and write a probe file in it. Raises :class:`RenderError` when it cannot
    be written (before anything is rendered)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, suffix=TEMP_SUFFIX):
            pass
    except OSError as error:
        raise RenderError(f"output folder {out_dir} is not writable: {error.strerror or error}") from error


def _source_hashes(items: tuple[Item, ...]) -> dict[Path, str | AudioLoadError]:
    """SHA-256 of every source, or the reason it cannot be read (its items then fail)."""
    hashes: dict[Path, str | AudioLoadError] = {}
    for path in dict.fromkeys(p for item in items for p in (item.a, item.b)):
        try:
            check_audio_file(path)
            hashes[path] = sha256_file(path)
        except AudioLoadError as error:
            hashes[path] = error
        except OSError as error:
            hashes[path] = AudioLoadError(path, error.strerror or str(error))
    return hashes


def _entry(item: Item, hashes: dict, job: Job, plugin_version: str, key: str, result: dict) -> dict[str, Any]:
    return {
        "path": item.path,
        "note": item.note,
        "morph": item.morph,
        "velocity": item.velocity,
        "phrase": str(item.phrase) if item.phrase else None,
        "a": {"path": str(item.a), "sha256": hashes[item.a]},
        "b": {"path": str(item.b), "sha256": hashes[item.b]},
        "model_id": result["model_id"],
        "plugin_version": plugin_version,
        "post": list(job.post),
        "lufs": result["lufs"],
        "peak_dbfs": result["peak_dbfs"],
        "duration_s": result["duration_s"],
        "sample_rate": job.sample_rate,
        "bit_depth": job.bit_depth,
        "sha256": result["sha256"],
        "bytes": result["bytes"],
        "key": key,
    }


def _read_journal(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Entries a killed run journaled (a torn last line is ignored)."""
    entries: dict[str, dict[str, Any]] = {}
    try:
        lines = (out_dir / JOURNAL_NAME).read_text(encoding="utf-8").splitlines()
    except OSError:
        return entries
    for line in lines:
        try:
            entry = json.loads(line)
            entries[entry["path"]] = entry
        except (ValueError, KeyError, TypeError):
            continue
    return entries


class _Log:
    """Progress on stderr: a rich bar with ETA on a terminal, one plain line per item otherwise."""

    def __init__(self, total: int):
        self.total, self.done = total, 0
        self.bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("rendering"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.task = self.bar.add_task("render", total=total)
            self.bar.start()

    def item(self, path: str, error: str | None) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.advance(self.task)
            if error:
                self.bar.console.print(f"failed: {path}: {error}", highlight=False, soft_wrap=True, markup=False)
        else:
            print(
                f"[{self.done}/{self.total}] {'failed' if error else 'ok'} {path}" + (f": {error}" if error else ""),
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_job(
    job: Job, out_dir: Path, plugin_path: Path, *, workers: int = 1, ray_address: str | None = None, sfz: bool = False
) -> RunReport:
    """Render every item of ``job`` not already finished in ``out_dir`` and write the manifest, the
    contact sheet and (``sfz``) the SFZ instruments.

    Args:
        job: a validated job (:mod:`latentmorph.render.job`).
        out_dir: the output folder (created).
        plugin_path: the LatentMorph VST3.
        workers: processes, each with its own plugin instance (1: this process).
        ray_address: run the items as Ray tasks on this cluster (``"auto"``, ``"ray://host:10001"``,
            ``"local"``) instead.
        sfz: also write an SFZ instrument per source pair.

    Returns:
        a :class:`RunReport`; failed items are in it and in the manifest, never raised. On Ctrl-C
        the items finished so far are kept (manifest written) and ``interrupted`` is set.

    Raises:
        RenderError: the plugin is missing or not LatentMorph, the output folder is not writable,
            Ray is asked for and not installed or its cluster cannot be reached, the model cannot be
            loaded.
        JobError: a ``params`` key is not a parameter of the plugin.
    """
    started = time.perf_counter()
    joined_ray = connect_ray(ray_address) if ray_address else False
    try:
        return _render_job(job, out_dir, plugin_path, workers, ray_address, sfz, started)
    finally:
        if joined_ray:
            disconnect_ray()


def _render_job(
    job: Job, out_dir: Path, plugin_path: Path, workers: int, ray_address: str | None, sfz: bool, started: float
) -> RunReport:
    """:func:`run_job` once Ray (if asked for) is joined; ``started``: its ``perf_counter`` start."""
    from ..model import ModelError, get_model
    from .outputs import save_contact_sheet, write_sfz

    plugin = open_plugin(plugin_path)
    for name in job.params:
        if name not in plugin.parameters or name == "morph":
            raise JobError(
                f"params.{name}",
                f"not a parameter of the plugin (has: {', '.join(plugin.parameters)}; morph is the `morph` key)",
            )
    check_output_folder(out_dir)
    remove_temp_files(out_dir)
    try:
        model_id = get_model().model_id
    except ModelError as error:
        raise RenderError(str(error)) from error
    plugin_sha256, plugin_version = plugin_binary_sha256(plugin_path), str(plugin.version)
    hashes = _source_hashes(job.items)
    previous = {**read_manifest_items(out_dir), **_read_journal(out_dir)}
    report, entries, failed, todo, keys = RunReport(), {}, {}, [], {}
    for item in job.items:
        hash_a, hash_b = hashes[item.a], hashes[item.b]
        if not (isinstance(hash_a, str) and isinstance(hash_b, str)):
            failed[item.path] = next(str(h.args[0]) for h in (hash_a, hash_b) if isinstance(h, AudioLoadError))
            continue
        keys[item.path] = item_key(item, (hash_a, hash_b), job, plugin_sha256, model_id)
        if is_finished(out_dir, previous.get(item.path), keys[item.path]):
            entries[item.path] = previous[item.path]
            report.skipped += 1
        else:
            todo.append(item)
    if workers > 1 or ray_address:
        del plugin  # each worker loads its own
        results = (
            run_ray(todo, plugin_path, job, out_dir)
            if ray_address
            else run_pool(todo, min(workers, len(todo) or 1), plugin_path, job, out_dir)
        )
    else:
        results = run_in_process(todo, plugin, job, out_dir)
    log = _Log(len(todo))
    render_started = time.perf_counter()
    try:
        with contextlib.closing(results), open(out_dir / JOURNAL_NAME, "a", encoding="utf-8") as journal:
            for item, result in results:
                if "error" in result:
                    failed[item.path] = result["error"]
                else:
                    entries[item.path] = _entry(item, hashes, job, plugin_version, keys[item.path], result)
                    journal.write(json.dumps(entries[item.path]) + "\n")
                    journal.flush()
                    report.rendered += 1
                    report.audio_s += item.duration_s
                log.item(item.path, result.get("error"))
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        log.close()
        report.render_s = time.perf_counter() - render_started
        ordered = [entries[item.path] for item in job.items if item.path in entries]
        failures = [
            {
                "path": item.path,
                "reason": failed[item.path],
                "note": item.note,
                "morph": item.morph,
                "velocity": item.velocity,
                "a": str(item.a),
                "b": str(item.b),
            }
            for item in job.items
            if item.path in failed
        ]
        report.failed = [(item.path, failed[item.path]) for item in job.items if item.path in failed]
        report.seconds = time.perf_counter() - started
        write_json(
            out_dir / MANIFEST_NAME,
            {
                "version": RENDER_VERSION,
                "model_id": model_id,
                "plugin": {"path": str(plugin_path), "version": plugin_version, "sha256": plugin_sha256},
                "settings": {
                    "sample_rate": job.sample_rate,
                    "bit_depth": job.bit_depth,
                    "format": job.file_format,
                    "params": job.params,
                    "post": list(job.post),
                },
                "summary": {
                    "items": len(job.items),
                    "finished": len(ordered),
                    "failed": len(failures),
                    "interrupted": report.interrupted,
                },
                "items": ordered,
                "failed": failures,
            },
        )
        (out_dir / JOURNAL_NAME).unlink(missing_ok=True)  # the manifest now holds every finished item
    report.outputs.append(out_dir / MANIFEST_NAME)
    if not report.interrupted:
        pairs = list(dict.fromkeys(f"{item.a.stem} → {item.b.stem}" for item in job.items))
        title = f"LatentMorph render: {pairs[0] if len(pairs) == 1 else f'{len(pairs)} pairs'} ({model_id})"
        sheet = save_contact_sheet(ordered, out_dir, job.sample_rate, title)
        report.outputs += ([sheet] if sheet else []) + (write_sfz(ordered, out_dir) if sfz else [])
    return report
