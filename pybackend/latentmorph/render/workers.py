"""Rendering items through the real VST3, one pedalboard instance per worker: in this process, in
a process pool, or as Ray tasks.

Per item a worker writes the state (the two sources and the job's parameters) with
:func:`latentmorph.plugin_state.set_plugin_state`, sets the parameters and ``morph`` as a DAW would
and renders the MIDI (``reset=True``: every item starts from silence, so renders do not depend on
order or worker; offline, the plugin's first block waits for its morph grid). The item is refused
unless the plugin then reports ``ready`` with these two sources and this ``morph``; otherwise the
post chain is applied and the file written atomically.

One plugin call per item, and ``reset=True`` makes pedalboard 0.9.26 re-create the instrument for
it. Two waits that came with that are gone (measured on a 1-s item, one core: the call took 30-38 ms
wall for 12-15 ms of CPU, now ~12 ms for ~9 ms):

- pedalboard's warm-up of every new instance (a note, and ten 1-ms turns of its message loop) is off
  (``PLUGIN_INIT_TIMEOUT_S``): the plugin loads nothing on start, and offline its first block waits
  for the grid anyway; the output is the same.
- The plugin's JUCE runs a message thread while any instance of the plugin lives in the process
  (``SharedResourcePointer<MessageThread>``, ``juce_LinuxMessageThread.h``). pedalboard destroys the
  old instance before it creates the new one, so with one instance every render stopped that thread
  (two 2-ms sleeps) and started a new one (~6 ms), and the calls JUCE makes on it each waited up to
  its 1-ms poll. :func:`open_plugin` keeps one idle instance per process, so the thread stays up.

Each executor yields ``(item, result)`` in completion order; ``result`` is :func:`render_item`'s
dict or ``{"error": reason}``.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
from collections.abc import Generator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ..errors import LatentMorphError
from ..plugin_state import make_state, plugin_state, set_parameter, set_plugin_state
from . import RenderError
from .job import Item, Job
from .outputs import write_audio

#: pedalboard's warm-up of each new instance, s: none (see the module docstring).
PLUGIN_INIT_TIMEOUT_S = 0.0
#: Items in flight per pool worker; items per Ray task.
IN_FLIGHT_PER_WORKER, RAY_CHUNK_ITEMS = 2, 8
NUM_CHANNELS = 2
#: One instance per plugin path, never rendered, for the life of the process (module docstring).
_idle_instances: dict[Path, Any] = {}


def open_plugin(path: Path):
    """Load ``path`` in pedalboard and check that it is LatentMorph (an instrument with a ``morph``
    parameter). Raises :class:`RenderError` saying why not."""
    import pedalboard

    if not path.exists():
        raise RenderError(f"plugin not found: {path} (run `make build`, or give --plugin PATH.vst3)")
    try:
        plugin = pedalboard.load_plugin(str(path), initialization_timeout=PLUGIN_INIT_TIMEOUT_S)
    except (ImportError, RuntimeError, ValueError) as error:
        raise RenderError(f"cannot load {path} as a plugin: {error}") from error
    if not getattr(plugin, "is_instrument", False) or "morph" not in getattr(plugin, "parameters", {}):
        raise RenderError(f"{path} is not LatentMorph: {getattr(plugin, 'name', '?')!r} has no 'morph' parameter")
    if path not in _idle_instances:  # keeps the plugin's message thread up (module docstring)
        _idle_instances[path] = pedalboard.load_plugin(str(path), initialization_timeout=PLUGIN_INIT_TIMEOUT_S)
    return plugin


# ---- one item (runs in workers) --------------------------------------------------------------


class ItemFailed(LatentMorphError):
    """This item cannot be rendered (the reason is the message); the batch goes on."""


def _set_sources(plugin, item: Item, job: Job) -> None:
    """Write ``item``'s state (its sources, the job's parameters and ``morph``) into ``plugin``: its
    slot loader starts fetching the grid (and the backend, on a process's first item) while the
    loudness meter of :func:`.post.loudness_lufs` (scipy.signal, ~1 s) loads, once per process."""
    set_plugin_state(plugin, make_state(item.a, item.b, {**job.params, "morph": item.morph}))
    import pyloudnorm  # noqa: F401


def render_item(plugin, steps: list, item: Item, job: Job, out_dir: Path) -> dict[str, Any]:
    """Render ``item`` through ``plugin`` (a LatentMorph pedalboard instance), apply the post
    ``steps`` and write the file. Returns ``model_id`` (as the plugin reports it), ``lufs``,
    ``peak_dbfs``, ``duration_s``, ``sha256`` and ``bytes``. Raises :class:`ItemFailed`."""
    from .post import PostError, apply_chain, loudness_lufs, peak_dbfs

    _set_sources(plugin, item, job)
    for name, value in {**job.params, "morph": item.morph}.items():
        set_parameter(plugin, name, value)  # as a DAW's automation would (root notes by number too)
    # offline, the first block waits for the grid
    audio = plugin(
        list(item.messages),
        duration=item.duration_s,
        sample_rate=job.sample_rate,
        num_channels=NUM_CHANNELS,
        reset=True,
    )
    state = plugin_state(plugin)
    if state.status.get("state") != "ready" or state.slots != [str(item.a), str(item.b)]:
        raise ItemFailed(f"plugin not ready ({state.status.get('state')}): {state.status.get('message', '')}")
    if abs(state.params.get("morph", -1.0) - item.morph) > 1e-4:
        raise ItemFailed(f"plugin morph is {state.params.get('morph')}, not {item.morph}")
    try:
        audio = apply_chain(steps, audio, job.sample_rate)
    except PostError as error:
        raise ItemFailed(str(error)) from error
    try:
        digest, size = write_audio(out_dir / item.path, audio, job.sample_rate, job)
    except (OSError, RuntimeError) as error:  # soundfile raises RuntimeError subclasses
        raise ItemFailed(f"cannot write {item.path}: {error}") from error
    return {
        "model_id": state.model_id,
        "lufs": loudness_lufs(audio, job.sample_rate),
        "peak_dbfs": peak_dbfs(audio),
        "duration_s": audio.shape[1] / job.sample_rate,
        "sha256": digest,
        "bytes": size,
    }


_worker: dict[str, Any] = {}


def _worker_setup(plugin_path: Path, job: Job, out_dir: Path, ignore_sigint: bool = True, cores=None) -> None:
    """Load the plugin and the post chain once per worker process (kept for later items). ``cores``:
    ``(counter, core ids)`` of a pool: the n-th worker started pins itself (and the backend its
    plugin starts) to core ``ids[n % len(ids)]``."""
    from .post import build_chain

    if ignore_sigint:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    if cores is not None:
        counter, ids = cores
        with counter.get_lock():
            os.sched_setaffinity(0, {ids[counter.value % len(ids)]})
            counter.value += 1
    if _worker.get("plugin_path") != plugin_path:
        _worker.update(plugin=open_plugin(plugin_path), plugin_path=plugin_path)
    _worker.update(steps=build_chain(job.post), job=job, out_dir=out_dir)


def _render_in_worker(item: Item) -> dict[str, Any]:
    """:func:`render_item` with the worker's plugin; a failure comes back as ``{"error": reason}``."""
    try:
        return render_item(_worker["plugin"], _worker["steps"], item, _worker["job"], _worker["out_dir"])
    except ItemFailed as error:
        return {"error": str(error)}
    except Exception as error:  # a plugin or effect failure belongs to this item, not to the batch
        return {"error": f"{type(error).__name__}: {error}"}


def _render_chunk(items: list[Item], plugin_path: Path, job: Job, out_dir: Path) -> list[dict[str, Any]]:
    """A Ray task: the plugin is loaded once per Ray worker process and kept."""
    _worker_setup(plugin_path, job, out_dir, ignore_sigint=False)
    return [_render_in_worker(item) for item in items]


# ---- executors: each yields (item, result) in completion order --------------------------------


def run_in_process(items: list[Item], plugin, job: Job, out_dir: Path) -> Generator[tuple[Item, dict], None, None]:
    """The items rendered with ``plugin`` in this process as the generator is read. Set up before
    it returns: the post chain, and the first item's sources (its grid, the loudness meter)."""
    from .post import build_chain

    _worker.update(plugin=plugin, steps=build_chain(job.post), job=job, out_dir=out_dir)
    if items:
        _set_sources(plugin, items[0], job)
    return ((item, _render_in_worker(item)) for item in items)


def run_pool(
    items: list[Item], workers: int, plugin_path: Path, job: Job, out_dir: Path
) -> Generator[tuple[Item, dict], None, None]:
    """A process pool with ``IN_FLIGHT_PER_WORKER`` items per worker in flight; when a worker dies
    (a crash in the plugin), its items in flight fail and the pool is restarted for the rest.

    Each worker is pinned to its own core of this process's affinity set: unpinned, 2 workers on 2
    cores finished 26-39 files/s, pinned 48-74 (one worker: 24-26; the bench job, a loaded machine).
    """
    queue = items[::-1]
    settings = dataclasses.replace(job, items=())
    # spawn, not fork: the parent holds a loaded plugin and its threads
    context = multiprocessing.get_context("spawn")
    while queue:
        with ProcessPoolExecutor(
            workers,
            mp_context=context,
            initializer=_worker_setup,
            initargs=(plugin_path, settings, out_dir, True, (context.Value("i", 0), sorted(os.sched_getaffinity(0)))),
        ) as pool:
            pending: dict[Future, Item] = {}
            try:
                while queue or pending:
                    while queue and len(pending) < IN_FLIGHT_PER_WORKER * workers:
                        pending[pool.submit(_render_in_worker, queue[-1])] = queue[-1]
                        queue.pop()
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield pending[future], future.result()
                        del pending[future]
            except BrokenProcessPool:
                for item in pending.values():
                    yield item, {"error": "its worker process died (a crash in the plugin?)"}
            finally:
                pool.shutdown(wait=True, cancel_futures=True)


def run_ray(items: list[Item], plugin_path: Path, job: Job, out_dir: Path) -> Generator[tuple[Item, dict], None, None]:
    """The same items as Ray tasks of ``RAY_CHUNK_ITEMS`` on the cluster :func:`connect_ray`
    joined (the workers need the plugin, the sources and the output folder at the same paths: a
    shared file system). Tasks still pending when the generator is closed (Ctrl-C) are cancelled."""
    import ray

    task = ray.remote(num_cpus=1)(_render_chunk)
    settings = dataclasses.replace(job, items=())
    refs = {
        task.remote(items[i : i + RAY_CHUNK_ITEMS], plugin_path, settings, out_dir): items[i : i + RAY_CHUNK_ITEMS]
        for i in range(0, len(items), RAY_CHUNK_ITEMS)
    }
    try:
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            chunk = refs.pop(done[0])
            try:
                results = ray.get(done[0])
            except ray.exceptions.RayError as error:  # a worker died: its chunk fails, the rest goes on
                results = [{"error": f"Ray task failed ({type(error).__name__})"}] * len(chunk)
            yield from zip(chunk, results)
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)


def connect_ray(address: str) -> bool:
    """Join the Ray cluster at ``address`` (``"auto"``: the one running on this machine or in
    ``RAY_ADDRESS``; ``"ray://host:10001"``; ``"local"``: start one here), unless this process is
    already connected. Returns whether it connected (then :func:`disconnect_ray` when done).
    Raises :class:`RenderError` when Ray is not installed or the cluster cannot be reached."""
    try:
        import ray
    except ImportError as error:
        raise RenderError("--ray needs Ray, which is not installed: pip install -e '.[cluster]'") from error
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
    except (ConnectionError, ValueError, RuntimeError) as error:
        raise RenderError(f"cannot reach the Ray cluster at {address!r}: {error}") from error
    return True


def disconnect_ray() -> None:
    """Leave the Ray cluster (a ``"local"`` instance started by :func:`connect_ray` stops)."""
    import ray

    ray.shutdown()
