"""The data set's index: ``prepare`` builds ``manifest.jsonl`` and ``summary.json``; a rebuilt
manifest is compared with an older one."""

from __future__ import annotations

import collections
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .clips import MAX_CLIP_S, PIPELINE_VERSION, SAMPLE_RATE, Stats
from .sample_packs import prepare_files, sample_file_items
from .soundfont import prepare_soundfont, soundfont_sources


def summarise(records: Sequence[dict]) -> dict:
    """Counts and seconds: totals and per source, category, split, source×split, category×split."""

    def tally(key_fn) -> dict:
        table: dict[str, dict] = {}
        for record in records:
            entry = table.setdefault(key_fn(record), {"clips": 0, "seconds": 0.0})
            entry["clips"] += 1
            entry["seconds"] += record["duration_s"]
        return {k: {"clips": v["clips"], "seconds": round(v["seconds"], 2)} for k, v in sorted(table.items())}

    seconds = sum(r["duration_s"] for r in records)
    return {
        "clips": len(records),
        "seconds": round(seconds, 2),
        "hours": round(seconds / 3600.0, 3),
        "recording_keys": len({r["recording_key"] for r in records}),
        "by_source": tally(lambda r: r["source"]),
        "by_category": tally(lambda r: r["category"]),
        "by_split": tally(lambda r: r["split"]),
        "by_source_split": tally(lambda r: f"{r['source']}/{r['split']}"),
        "by_category_split": tally(lambda r: f"{r['category']}/{r['split']}"),
    }


def prepare(data_dir: Path, max_notes: int | None = None, console: Console | None = None) -> dict:
    """Build ``data_dir``: packages, clips, ``manifest.jsonl`` and ``summary.json``.

    Manifest fields: ``id``, ``path`` (relative to ``data_dir``), ``source`` (fluidr3 | musescore |
    hydrogen | hydrogen-fx | lmms | oxygen | lomiri | bucklespring), ``category`` (one of :data:`CATEGORIES`), ``recording_key``, ``split``
    (train | valid), ``duration_s``, ``sample_rate`` (44100), ``original`` (package, version and
    file path, or soundfont bank / program / note / velocity) and ``license``.

    Args:
        data_dir: output folder (created).
        max_notes: cap on the renders of each soundfont (deterministic subset, see
            :func:`fluidr3_grid`), ``None`` for the full grids.

    Returns:
        The summary written to ``summary.json``.
    """
    console = console or Console()
    started = time.monotonic()
    data_dir = Path(data_dir).resolve()
    clips_dir = data_dir / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    stamp_path = clips_dir / ".pipeline.json"
    stamp = {"version": PIPELINE_VERSION, "sample_rate": SAMPLE_RATE, "max_clip_s": MAX_CLIP_S}
    trust = stamp_path.is_file() and json.loads(stamp_path.read_text()) == stamp
    if not trust and any(clips_dir.iterdir()):
        console.print("[yellow]clips from another pipeline version: they will be rewritten[/]")
    stats = Stats()

    items = sample_file_items(data_dir, console, stats)
    soundfonts = soundfont_sources(data_dir, max_notes, console, stats)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    records = []
    with Progress(*columns, console=console) as progress:
        for font, specs, keys in soundfonts:
            records += prepare_soundfont(data_dir, font, specs, keys, trust, progress, stats)
        records += prepare_files(data_dir, items, trust, console, progress, stats)
    records.sort(key=lambda r: r["id"])
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "clip ids must be unique"

    tmp = data_dir / "manifest.jsonl.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
    os.replace(tmp, data_dir / "manifest.jsonl")
    stamp_path.write_text(json.dumps(stamp))

    summary = summarise(records)
    summary.update(
        max_notes=max_notes,
        renders_requested={font.source: len(specs) for font, specs, _ in soundfonts},
        sample_files_found=len(items),
        clips_written=stats.written,
        clips_reused=stats.reused,
        dropped=dict(sorted(stats.dropped.items())),
        failed=stats.failed,
        wall_time_s=round(time.monotonic() - started, 1),
        pipeline_version=PIPELINE_VERSION,
    )
    (data_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def read_manifest(path: Path) -> list[dict]:
    """The records of a ``manifest.jsonl`` (one JSON object per line; blank lines skipped).

    Raises:
        ValueError: a line is not a JSON object with ``id`` and ``split`` (message names the line).
        OSError: the file cannot be read.
    """
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
            if not isinstance(record, dict) or "id" not in record or "split" not in record:
                raise ValueError(f"{path}:{number}: a record needs 'id' and 'split'")
            records.append(record)
    return records


def compare_splits(old: Sequence[dict], new: Sequence[dict]) -> dict:
    """How a rebuilt manifest treats the clips of an older one.

    A model trained on ``old``'s train split may only be validated on clips it never saw, so a
    rebuild must keep every surviving clip's split (``changed`` must be empty).

    Returns:
        ``{"kept": n, "changed": [{"id", "old", "new"}...], "removed": n, "added": n,
        "added_by_source_split": {"<source>/<split>": n}}``, clips matched by ``id``.
    """
    old_split = {r["id"]: r["split"] for r in old}
    new_ids = {r["id"] for r in new}
    changed = [{"id": r["id"], "old": old_split[r["id"]], "new": r["split"]}
               for r in new if r["id"] in old_split and r["split"] != old_split[r["id"]]]  # fmt: skip
    added = collections.Counter(f"{r.get('source', '?')}/{r['split']}" for r in new if r["id"] not in old_split)
    return {
        "kept": len(new_ids & old_split.keys()),
        "changed": changed,
        "removed": len(old_split.keys() - new_ids),
        "added": sum(added.values()),
        "added_by_source_split": dict(sorted(added.items())),
    }
