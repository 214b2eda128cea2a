"""The library's commands of the ``latentmorph`` CLI: ``index``, ``similar``, ``tags``, ``library-eval``,
``library-server``.

:func:`register` adds them to the main Typer app. Errors are one line on stderr and exit status 1;
``--json`` writes one JSON document to stdout for scripts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..model import ModelError
from . import LibraryError, default_db_path
from .indexer import index_paths
from .quick import hits_document, hits_table
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
    ray: str | None = typer.Option(
        None,
        "--ray",
        metavar="ADDRESS",
        help="encode as Ray tasks on this cluster ('auto', 'ray://host:10001', 'local')",
    ),
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
    console.print(
        f"{db}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged "
        f"({report.moved} moved), {report.removed} removed, {report.failed} failed; "
        f"{report.items} items; {report.seconds:.1f} s",
        highlight=False,
    )
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
    """Nearest neighbours of FILE (or its span --start..--end) in the library, by cosine distance of the
    similarity embedding."""
    db = db or default_db_path()
    try:
        hits = similar(db, query, start_s=start_s, end_s=end_s, k=k, category=category)
    except (LibraryError, ModelError) as error:
        _fail(error)
    if as_json:
        _print_json(hits_document(query, start_s, end_s, k, category, hits))
    else:
        typer.echo(hits_table(hits), nl=False)


def tags(
    db: Path | None = DB_OPTION,
    evaluate: bool = typer.Option(False, "--evaluate", help="score the classifier against the path tags"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Tag counts by source (path words / classifier); --evaluate scores the classifier head on the
    files whose path names a tag (it never learnt from this library: all of it is held out)."""
    db = db or default_db_path()
    try:
        with Library.open(db) as library:
            items = library.items()
    except LibraryError as error:
        _fail(error)
    counts = Counter((it.tag or "-", it.tag_source or "-") for it in items)
    document: dict = {
        "db": str(db),
        "items": len(items),
        "counts": [{"tag": t, "source": s, "items": n} for (t, s), n in sorted(counts.items())],
    }
    if evaluate:
        try:
            document["classifier"] = _evaluate_path_tags(items).to_json()
        except (LibraryError, ModelError) as error:
            _fail(error)
    if as_json:
        _print_json(document)
        return
    table = Table("tag", "source", "items")
    for row in document["counts"]:
        table.add_row(row["tag"], row["source"], str(row["items"]))
    Console().print(table)
    if evaluate:
        _print_tag_report(document["classifier"], "path-tagged files")


def _evaluate_path_tags(items: list):
    """The classifier head's tags of the path-tagged files (whole files, ``loop`` left out: it names
    a form, not a sound) against their path tags; the files are read and embedded again."""
    from ..audio import AudioLoadError, load_audio
    from .embedding import classifier_tag
    from .similarity_model import get_similarity_model
    from .tags import evaluate_tags

    model = get_similarity_model()
    known, predicted = [], []
    files = {it.path: it for it in items if it.start_s == 0.0}  # the first item of a file is the whole file
    for item in files.values():
        if item.tag_source != "path" or item.tag == "loop":
            continue
        try:
            audio, _ = load_audio(item.path, model.sample_rate, max_duration_s=item.end_s + 1.0)
        except AudioLoadError:  # gone or changed since it was indexed
            continue
        known.append(item.tag)
        predicted.append(classifier_tag(model, model.embed(audio)[1])[0])
    if not known:
        raise LibraryError("no readable file has a tag from its path: nothing to evaluate the classifier on")
    return evaluate_tags(known, predicted)


def _print_tag_report(report: dict, what: str) -> None:
    console.print(
        f"classifier on {report['items']} {what}: accuracy {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}",
        highlight=False,
    )
    table = Table("tag", "F1", "items")
    for tag, f1 in report["f1"].items():
        table.add_row(tag, f"{f1:.3f}", str(report["support"][tag]))
    Console().print(table)


def library_eval(
    data: Path = typer.Option(Path(".data"), help="data folder with manifest.jsonl (`make data`)"),
    out: Path = typer.Option(Path("out/library-eval"), help="folder for eval.json and confusion.png"),
    k: int = typer.Option(10, "-k", min=1, help="precision at this many neighbours"),
    workers: int | None = typer.Option(None, min=1, help="processes (default: all cores)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """precision@k "same category" (the query's recording left out) and mean average precision of the
    similarity embedding vs the VAE latent and MFCC statistics on the held-out sources, a confusion
    matrix, and the tag classifier's accuracy and per-class F1 there."""
    from .retrieval import EMBEDDINGS, evaluate, plot_confusion

    try:
        result = evaluate(data, k=k, workers=workers, progress=not as_json)
    except (LibraryError, ModelError) as error:
        _fail(error)
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    plot_confusion(result, out / "confusion.png")
    if as_json:
        _print_json(result)
        return
    held_out = result["held_out"]
    table = Table(
        "category",
        "queries",
        *(f"{name} P@{k}" for name in EMBEDDINGS),
        title=f"held-out sources: {result['queries']['held_out']} queries against {result['database']} "
        f"clips no model was tuned on, own recording left out ({result['similarity_model']})",
    )
    support = result["tags"]["support"]
    for category in held_out["similarity"]["precision_at_k"]:
        table.add_row(
            category,
            str(support.get(category, result["queries"]["held_out"])),
            *(f"{held_out[name]['precision_at_k'][category]:.3f}" for name in EMBEDDINGS),
        )
    table.add_row("mAP", "", *(f"{held_out[name]['map']['all']:.3f}" for name in EMBEDDINGS))
    table.add_row(
        f"validation P@{k}",
        str(result["queries"]["valid"]),
        *(f"{result['valid'][name]['precision_at_k']['all']:.3f}" for name in EMBEDDINGS),
    )
    Console().print(table)
    _print_tag_report(result["tags"], "held-out clips")
    console.print(f"wrote {out / 'eval.json'} and {out / 'confusion.png'}", highlight=False)


def library_server(
    context: typer.Context,
    idle_s: float = typer.Option(1800.0, "--idle-s", min=1.0, help="exit after this many seconds without a query"),
) -> None:
    """Keep the library search warm: `latentmorph similar` answers through this process (a Unix
    socket for this user only) in tens of milliseconds instead of starting Python, ONNX Runtime
    and FAISS each time."""
    from .warm import serve, socket_path

    console.print(f"library server on {socket_path()} (exits after {idle_s:.0f} s idle)", highlight=False)
    try:
        serve(context.find_root().command, idle_s)
    except OSError as error:
        _fail(error)


def register(app: typer.Typer) -> None:
    """Add ``index``, ``similar``, ``tags``, ``library-eval`` and ``library-server`` to ``app``."""
    app.command()(index)
    app.command("similar")(similar_command)
    app.command()(tags)
    app.command("library-eval")(library_eval)
    app.command("library-server")(library_server)
