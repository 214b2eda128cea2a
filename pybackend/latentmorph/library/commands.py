"""The library's commands of the ``latentmorph`` CLI: ``index``, ``similar``, ``tags``, ``library-eval``.

:func:`register` adds them to the main Typer app. Errors are one line on stderr and exit status 1;
``--json`` writes one JSON document to stdout for scripts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Column, Table

from ..model import ModelError
from . import LibraryError, default_db_path
from .indexer import index_paths
from .search import similar
from .store import Library

console = Console(stderr=True)
DB_OPTION = typer.Option(None, "--db", help="library database (default: $LATENTMORPH_LIBRARY_DB or the user data dir)")
JSON_OPTION = typer.Option(False, "--json", help="print one JSON document to stdout")
#: Failures listed on the terminal (all of them are in --json and in the database).
FAILURES_SHOWN = 20


def _fail(error: Exception) -> None:
    console.print(f"[bold red]error:[/] {error}", soft_wrap=True, highlight=False)
    raise typer.Exit(1)


def _print_json(document) -> None:
    typer.echo(json.dumps(document, indent=2))


def index(
    roots: list[Path] = typer.Argument(..., metavar="DIR...", help="folders (recursive) or files to index"),
    db: Path | None = DB_OPTION,
    workers: int | None = typer.Option(None, min=1, help="encoding processes (default: all cores)"),
    ray: str | None = typer.Option(None, "--ray", metavar="ADDRESS",
                                   help="encode as Ray tasks on this cluster ('auto', 'ray://host:10001', 'local')"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Index the audio files under DIR...: re-encodes only what changed, drops files that are gone."""
    db = db or default_db_path()
    try:
        report = index_paths(roots, db, workers=workers, ray_address=ray, progress=not as_json)
    except (LibraryError, ModelError) as error:
        _fail(error)
    if as_json:
        _print_json({"db": str(db), **report.to_json()})
        return
    console.print(f"{db}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged "
                  f"({report.moved} moved), {report.removed} removed, {report.failed} failed; "
                  f"{report.items} items; {report.seconds:.1f} s", highlight=False)
    for path, reason in report.failures[:FAILURES_SHOWN]:
        console.print(f"  [yellow]failed[/] {path}: {reason}", highlight=False, soft_wrap=True)
    if len(report.failures) > FAILURES_SHOWN:
        console.print(f"  … and {len(report.failures) - FAILURES_SHOWN} more (`--json` lists all)")


def similar_command(
    query: Path = typer.Argument(..., metavar="FILE", help="the sound to find neighbours of"),
    start_s: float | None = typer.Option(None, "--start", help="span start in FILE, seconds"),
    end_s: float | None = typer.Option(None, "--end", help="span end in FILE, seconds"),
    k: int = typer.Option(10, "-k", min=1, help="number of neighbours"),
    category: str | None = typer.Option(None, help="only items with this tag (kick, snare, …)"),
    db: Path | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Nearest neighbours of FILE (or its span --start..--end) in the library, by latent cosine distance."""
    db = db or default_db_path()
    try:
        hits = similar(db, query, start_s=start_s, end_s=end_s, k=k, category=category)
    except (LibraryError, ModelError) as error:
        _fail(error)
    if as_json:
        _print_json({"query": str(query), "start_s": start_s, "end_s": end_s, "k": k, "category": category,
                     "hits": [hit.to_json() for hit in hits]})
        return
    table = Table("#", "distance", "tag", "start_s", "end_s", Column("path", overflow="fold"))  # whole path, wrapped
    for rank, hit in enumerate(hits, 1):
        table.add_row(str(rank), f"{hit.distance:.4f}", hit.tag or "", f"{hit.start_s:.3f}", f"{hit.end_s:.3f}", hit.path)
    Console().print(table)


def tags(
    db: Path | None = DB_OPTION,
    evaluate: bool = typer.Option(False, "--evaluate", help="accuracy of the classifier on held-out folders"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Tag counts by source (path words / classifier); --evaluate scores the classifier on the
    path-tagged files of folders it did not learn from."""
    from .tags import evaluate_classifier

    db = db or default_db_path()
    try:
        with Library.open(db) as library:
            items = library.items()
    except LibraryError as error:
        _fail(error)
    counts = Counter((it.tag or "-", it.tag_source or "-") for it in items)
    document: dict = {"db": str(db), "items": len(items),
                      "counts": [{"tag": t, "source": s, "items": n} for (t, s), n in sorted(counts.items())]}
    if evaluate:
        whole_files = {}  # score files: a long file's 64 segments would outweigh 64 one-shots
        for item in items:
            whole_files.setdefault(item.path, item)
        known = [it for it in whole_files.values() if it.tag_source == "path" and it.tag != "loop"]
        if not known:
            _fail(LibraryError("no item has a tag from its path: nothing to evaluate the classifier on"))
        try:
            report = evaluate_classifier(np.stack([it.embedding for it in known]), [it.tag for it in known],
                                         [str(Path(it.path).parent) for it in known])
        except ValueError as error:
            _fail(LibraryError(f"cannot evaluate the classifier: {error}"))
        document["classifier"] = report.to_json()
    if as_json:
        _print_json(document)
        return
    table = Table("tag", "source", "items")
    for row in document["counts"]:
        table.add_row(row["tag"], row["source"], str(row["items"]))
    Console().print(table)
    if evaluate:
        c = document["classifier"]
        console.print(f"classifier accuracy on held-out folders: {c['accuracy']:.3f} "
                      f"({c['train_items']} train / {c['test_items']} test files)", highlight=False)


def library_eval(
    data: Path = typer.Option(Path(".data"), help="data folder with manifest.jsonl (`make data`)"),
    db: Path = typer.Option(Path("out/library-eval.sqlite"), help="index of the clips (kept: re-runs are incremental)"),
    k: int = typer.Option(10, "-k", min=1, help="precision at this many neighbours"),
    workers: int | None = typer.Option(None, min=1, help="encoding processes (default: all cores)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """precision@k "same category" of the latent embedding vs an MFCC-statistics baseline on the
    validation clips, and the tag classifier's accuracy on them."""
    from .retrieval import evaluate

    try:
        result = evaluate(data, db, k=k, workers=workers, progress=not as_json)
    except (LibraryError, ModelError) as error:
        _fail(error)
    if as_json:
        _print_json(result)
        return
    table = Table("embedding", f"precision@{k} within validation", f"precision@{k} other recordings",
                  "classifier accuracy", title=f"{result['queries']} validation queries; other recordings: "
                  f"against all {result['database']} clips, the query's recording left out")
    for name in ("latent", "mfcc"):
        precision = result[name]["precision_at_k"]
        table.add_row(name, f"{precision['validation']['all']:.3f}", f"{precision['other_recordings']['all']:.3f}",
                      f"{result[name]['classifier_accuracy']:.3f}")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``index``, ``similar``, ``tags`` and ``library-eval`` to ``app``."""
    app.command()(index)
    app.command("similar")(similar_command)
    app.command()(tags)
    app.command("library-eval")(library_eval)
