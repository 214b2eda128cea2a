"""``latentmorph similar`` without the Typer app: what a cold command needs and nothing more.

The launcher (:mod:`latentmorph.launcher`) hands ``similar`` here when no warm library server
answers. Importing the CLI (Typer, rich, the morph and render commands, ONNX Runtime, FAISS) costs
~0.3 s of a cold ``similar``; this module parses the same options with :mod:`argparse`, calls
:func:`latentmorph.library.search.similar` (which, for a query the library already holds, compares
stored vectors without ONNX Runtime) and prints what the Typer command prints — both use
:func:`hits_document` and :func:`hits_table`. Anything it does not handle itself (``--help``, a
usage error, a library error) goes back to the Typer command, so messages stay in one place.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: Columns of the ``similar`` table.
COLUMNS = ("#", "distance", "tag", "start_s", "end_s", "path")


def hits_document(
    query: Path, start_s: float | None, end_s: float | None, k: int, category: str | None, hits: list
) -> dict:
    """The ``--json`` document of ``similar``: the request and ``hits`` (:meth:`~.search.Hit.to_json`)."""
    return {
        "query": str(query),
        "start_s": start_s,
        "end_s": end_s,
        "k": k,
        "category": category,
        "hits": [hit.to_json() for hit in hits],
    }


def hits_table(hits: list) -> str:
    """``similar``'s hits as a plain text table, one line per hit (rank, cosine distance to 4
    decimals, tag, span in seconds, whole path), columns left-aligned, ending in a newline."""
    rows = [COLUMNS] + [
        (str(rank), f"{hit.distance:.4f}", hit.tag or "", f"{hit.start_s:.3f}", f"{hit.end_s:.3f}", hit.path)
        for rank, hit in enumerate(hits, 1)
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    return "".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths)), row[-1]]) + "\n" for row in rows)


class _Parser(argparse.ArgumentParser):
    """Raises ``argparse.ArgumentError`` on a usage error instead of exiting: the Typer command
    then reports it."""

    def error(self, message: str):
        raise argparse.ArgumentError(None, message)


def _parser() -> argparse.ArgumentParser:
    """The options of ``latentmorph similar`` (:func:`~.commands.similar_command`)."""
    parser = _Parser(prog="latentmorph similar", add_help=False, allow_abbrev=False, exit_on_error=False)
    parser.add_argument("query", type=Path)
    parser.add_argument("--start", dest="start_s", type=float)
    parser.add_argument("--end", dest="end_s", type=float)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--category")
    parser.add_argument("--db", type=Path)
    parser.add_argument("--json", dest="as_json", action="store_true")
    return parser


def run(argv: list[str]) -> int | None:
    """Answer ``argv`` (``["similar", …]``) on stdout and return the exit status (0), or ``None``
    (nothing printed) when the Typer app should run it: another command, ``--help``, a usage error,
    or an error that the command reports (missing library, unreadable query …)."""
    if not argv or argv[0] != "similar":
        return None
    try:
        args = _parser().parse_args(argv[1:])
    except (argparse.ArgumentError, ValueError):
        return None
    if args.k < 1:
        return None
    from ..errors import LatentMorphError
    from . import default_db_path
    from .search import similar

    try:
        hits = similar(
            args.db or default_db_path(),
            args.query,
            start_s=args.start_s,
            end_s=args.end_s,
            k=args.k,
            category=args.category,
        )
    except LatentMorphError:
        return None
    if args.as_json:
        document = hits_document(args.query, args.start_s, args.end_s, args.k, args.category, hits)
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write(hits_table(hits))
    return 0
