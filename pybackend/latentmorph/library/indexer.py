"""Incremental indexing of sample folders into the library database.

A file is re-encoded only when it changed: equal ``(size_bytes, mtime_ns)`` → unchanged without
reading it; otherwise its SHA-256 is compared with the stored one, so a touched file, or one moved
to a new path, keeps its items. Files that left the indexed folders leave the index.

Encoding runs in a process pool (one ONNX session per worker at one intra-op thread, all cores), or
as Ray tasks on a cluster (``ray_address``), or in this process when a ``model`` is given. The main
process writes results in batches of ``BATCH_FILES`` files, one transaction each, so an interrupted
run keeps what it finished. A file that cannot be read, is silent, takes longer than
``FILE_TIMEOUT_S`` or crashes its worker is recorded with the reason and skipped.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generator, Iterable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ..audio import AudioLoadError, is_audio_path, load_audio, sha256_file
from . import LibraryError
from .embedding import SilentAudioError, embed_audio
from .similarity_model import SimilarityModel, get_similarity_model
from .store import FileRecord, FileResult, Library
from .tags import path_tagged

#: Files written per transaction: an interrupted run loses at most the batch in flight.
BATCH_FILES = 64
#: Audio beyond this is not indexed (the items of a longer file end here).
INDEX_MAX_DURATION_S = 120.0
#: Wall-clock limit of one file's decode + encode in a worker.
FILE_TIMEOUT_S = 60.0
#: Files per Ray task (amortises the task overhead and the model load of a fresh worker).
RAY_CHUNK_FILES = 16


@dataclass
class IndexReport:
    """Counts of one indexing run. ``unchanged`` includes touched and moved files (``moved`` of
    them kept their items under a new path); ``failures`` are ``(path, reason)`` of this run."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    seconds: float = 0.0
    moved: int = 0
    items: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": self.failed,
            "moved": self.moved,
            "items": self.items,
            "seconds": self.seconds,
            "failures": [{"path": p, "reason": r} for p, r in self.failures],
        }


# ---- encoding one file (runs in workers) ------------------------------------------------------


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise ``TimeoutError`` in this thread after ``seconds`` (SIGALRM; only in a main thread —
    elsewhere, e.g. a Ray worker thread, only the frame cap bounds the work)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"took longer than {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def encode_file(path: str, model: SimilarityModel) -> FileResult:
    """Decode, embed and tag one file. Never raises for a bad file: the result carries the reason.

    Returns:
        a :class:`FileResult` with the file's items (whole file first, then onset segments), each
        tagged from the path, else by the classifier head, or with ``error`` set.
    """
    try:
        stat = os.stat(path)
        digest = sha256_file(path)
    except OSError as error:  # removed since the scan, or unreadable: retried on the next run
        return FileResult(path, 0, 0, "", None, f"cannot read the file: {error.strerror}", ())
    try:
        with _time_limit(FILE_TIMEOUT_S):
            audio, _ = load_audio(path, model.sample_rate, max_duration_s=INDEX_MAX_DURATION_S)
            segments = embed_audio(model, audio)
    except AudioLoadError as error:
        return FileResult(path, stat.st_size, stat.st_mtime_ns, digest, None, error.reason, ())
    except SilentAudioError as error:
        return FileResult(path, stat.st_size, stat.st_mtime_ns, digest, None, str(error), ())
    except Exception as error:  # a decoder or encoder failure belongs to this file, not to the run
        return FileResult(path, stat.st_size, stat.st_mtime_ns, digest, None, f"{type(error).__name__}: {error}", ())
    return FileResult(
        path,
        stat.st_size,
        stat.st_mtime_ns,
        digest,
        len(audio) / model.sample_rate,
        None,
        tuple(path_tagged(path, segments)),
    )


_worker_model: SimilarityModel | None = None


def _worker_init() -> None:
    global _worker_model
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    _worker_model = SimilarityModel.load(intra_op_threads=1)


def _encode_in_worker(path: str) -> FileResult:
    assert _worker_model is not None, "the pool's initializer loads the model"
    return encode_file(path, _worker_model)


def _encode_chunk(paths: list[str]) -> list[FileResult]:
    """A Ray task: the model is loaded once per worker process and kept."""
    global _worker_model
    if _worker_model is None:
        _worker_model = SimilarityModel.load(intra_op_threads=1)
    return [encode_file(p, _worker_model) for p in paths]


# ---- executors: each yields one FileResult per path, in completion order ----------------------


def _run_in_process(paths: list[str], model: SimilarityModel) -> Iterator[FileResult]:
    for path in paths:
        yield encode_file(path, model)


def _crashed(path: str, cause: str = "its worker process died") -> FileResult:
    stat = os.stat(path) if os.path.exists(path) else None
    return FileResult(
        path, stat.st_size if stat else 0, stat.st_mtime_ns if stat else 0, "", None, f"encoding crashed: {cause}", ()
    )


def _run_pool(paths: list[str], workers: int) -> Generator[FileResult, None, None]:
    """Process pool with at most ``2 · workers`` files in flight. When a worker dies (a crash in a
    decoder library), the files that were in flight are retried one at a time, each in a fresh
    worker, so that only the culprit is recorded as crashed."""
    lost = yield from _pool_pass(paths, workers, 2 * workers)
    culprits = yield from _pool_pass(lost, 1, 1)
    for path in culprits:
        yield _crashed(path)


def _pool_pass(paths: list[str], workers: int, in_flight_max: int) -> Generator[FileResult, None, list[str]]:
    """Yield the results of ``paths``; return the paths that were in flight when a worker died
    (the pool is then restarted for the rest)."""
    queue, lost = paths[::-1], []
    while queue:
        with ProcessPoolExecutor(workers, initializer=_worker_init) as pool:
            pending: dict[Future, str] = {}
            broken = False
            while (queue or pending) and not broken:
                while queue and len(pending) < in_flight_max and not broken:
                    path = queue.pop()
                    try:
                        pending[pool.submit(_encode_in_worker, path)] = path
                    except BrokenProcessPool:
                        queue.append(path)
                        broken = True
                done, _ = wait(pending, return_when=FIRST_COMPLETED) if pending else (set(), set())
                for future in done:
                    path = pending.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        lost.append(path)
                        broken = True
                        continue
                    yield result
            lost.extend(pending.values())  # files still in flight die with a broken pool
    return lost


def _run_ray(paths: list[str], address: str) -> Iterator[FileResult]:
    """The same :func:`encode_file` as Ray tasks of ``RAY_CHUNK_FILES`` files; a task asks for a GPU
    when the cluster has one (onnxruntime-gpu on the workers then encodes there)."""
    try:
        import ray
    except ImportError as error:
        raise LibraryError("--ray needs Ray: pip install 'latentmorph[cluster]'") from error
    ray.init(
        address=None if address == "local" else address,
        ignore_reinit_error=True,
        log_to_driver=False,
        include_dashboard=False,
    )
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    task = ray.remote(num_cpus=1, num_gpus=gpus)(_encode_chunk)
    refs = {
        task.remote(paths[i : i + RAY_CHUNK_FILES]): paths[i : i + RAY_CHUNK_FILES]
        for i in range(0, len(paths), RAY_CHUNK_FILES)
    }
    while refs:
        done, _ = ray.wait(list(refs), num_returns=1)
        chunk = refs.pop(done[0])
        try:
            yield from ray.get(done[0])
        except ray.exceptions.RayError as error:  # a worker died: record the chunk, keep going
            for path in chunk:
                yield _crashed(path, f"Ray task failed ({type(error).__name__})")


# ---- the incremental run ---------------------------------------------------------------------


def scan(roots: Iterable[Path]) -> dict[str, tuple[int, int]]:
    """Audio files under ``roots`` (recursive; a root may be a file): ``{absolute path: (size_bytes,
    mtime_ns)}``. Extensions are matched case-insensitively (:func:`latentmorph.audio.is_audio_path`).

    Raises:
        LibraryError: a root does not exist.
    """
    found: dict[str, tuple[int, int]] = {}
    for root in roots:
        root = Path(os.path.abspath(root))
        if not root.exists():
            raise LibraryError(f"'{root}' does not exist")
        walk: Iterable[tuple[str, list[str], list[str]]]
        if root.is_file():
            walk = [(str(root.parent), [], [root.name])] if is_audio_path(root) else []
        else:
            walk = os.walk(root)
        for folder, _, names in walk:
            for name in names:
                if is_audio_path(name):
                    path = os.path.join(folder, name)
                    try:
                        stat = os.stat(path)
                    except OSError:  # a dangling link or a file removed during the walk
                        continue
                    found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


class _FilesPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f} files/s" if task.speed else "", style="progress.data.speed")


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _FilesPerSecond(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )


def index_paths(
    roots: list[Path],
    db_path: Path,
    *,
    model: SimilarityModel | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
    progress: bool = True,
) -> IndexReport:
    """Bring the index of the audio files under ``roots`` up to date.

    Args:
        roots: folders (searched recursively) or files.
        db_path: the library database; created when missing.
        model: encode in this process with this similarity model (tests, a loaded model); by
            default each worker loads the shipped one (:func:`~.similarity_model.model_path`).
        workers: worker processes (default: all cores); 1 encodes in this process.
        ray_address: encode as Ray tasks on this cluster (``"auto"``, ``"ray://host:10001"``, or
            ``"local"`` for a fresh local instance) instead of the process pool.
        progress: show a progress bar (files/s, ETA) on stderr.

    Returns:
        an :class:`IndexReport`. A library indexed with another embedding (model or windowing) is
        emptied first and re-embedded: vectors of two models are never mixed.

    Raises:
        LibraryError: a root does not exist; the database is of a newer schema or not a library.
        ModelError: the model cannot be loaded.
    """
    started = time.perf_counter()
    report = IndexReport()
    found = scan(roots)
    root_strings = [os.path.abspath(r) for r in roots]
    space = (model or get_similarity_model()).embedding_id
    with Library.open(db_path, create=True) as library:
        if library.meta("embedding_id") not in (None, space):  # other model or windowing: other space
            library.clear()
        records = library.file_records()
        to_encode, touched = _plan(found, records, root_strings, library, report)
        if touched:
            library.update_stats(touched)
        report.unchanged += len(touched)
        if to_encode:
            _encode_all(to_encode, records, library, model, space, workers, ray_address, progress, report)
        report.items = library.item_count()
    report.seconds = time.perf_counter() - started
    return report


def _plan(
    found: dict[str, tuple[int, int]],
    records: dict[str, FileRecord],
    roots: list[str],
    library: Library,
    report: IndexReport,
) -> tuple[list[str], list[tuple[str, int, int]]]:
    """Sort files into unchanged / touched (same bytes) / moved / to encode, and remove the records
    of files that left the roots. Returns ``(paths to encode, touched (path, size, mtime))``."""
    to_encode, touched = [], []
    missing = {path: rec for path, rec in records.items() if path not in found and _under(path, roots)}
    missing_by_hash = {rec.sha256: path for path, rec in missing.items() if rec.sha256}
    for path, (size, mtime) in sorted(found.items()):
        record = records.get(path)
        if record is not None and (record.size_bytes, record.mtime_ns) == (size, mtime):
            report.unchanged += 1
        elif record is not None:
            if record.sha256 and sha256_file(path) == record.sha256:
                touched.append((path, size, mtime))
            else:
                to_encode.append(path)
        elif missing_by_hash and (old := missing_by_hash.pop(sha256_file(path), None)) is not None:
            library.move_file(old, path, size, mtime)
            del missing[old]
            report.unchanged += 1
            report.moved += 1
        else:
            to_encode.append(path)
    if missing:
        library.remove_paths(missing)
        report.removed = len(missing)
    return to_encode, touched


def _encode_all(
    paths: list[str],
    records: dict[str, FileRecord],
    library: Library,
    model: SimilarityModel | None,
    space: str,
    workers: int | None,
    ray_address: str | None,
    progress: bool,
    report: IndexReport,
) -> None:
    workers = workers or os.cpu_count() or 1
    if ray_address:
        results = _run_ray(paths, ray_address)
    elif model is not None or workers == 1:
        results = _run_in_process(paths, model or get_similarity_model())
    else:
        results = _run_pool(paths, min(workers, len(paths)))
    batch: list[FileResult] = []
    with _progress(progress) as bar:
        task = bar.add_task("indexing", total=len(paths))
        try:
            for result in results:
                batch.append(result)
                if result.error is not None:
                    report.failed += 1
                    report.failures.append((result.path, result.error))
                elif result.path in records:
                    report.updated += 1
                else:
                    report.added += 1
                if len(batch) >= BATCH_FILES:
                    library.write_files(batch, space)
                    batch = []
                bar.advance(task)
        finally:  # also on Ctrl-C: keep every finished file
            if batch:
                library.write_files(batch, space)
