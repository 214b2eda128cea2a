"""The library database: one SQLite file, schema-versioned with ``PRAGMA user_version``.

Tables (schema version 2):

- ``meta(key, value)`` — ``library_id`` (random, made at creation), ``embedding_id`` (encoder model id and pooling version of the
  embeddings, :func:`latentmorph.library.similarity_model.embedding_id`), ``embedding_dim``,
  ``content_version`` (incremented by every write, the key of the cached ANN index).
- ``files(id, path, size_bytes, mtime_ns, sha256, duration_s, error)`` — one row per audio file
  seen; ``error`` holds the reason a file could not be indexed (then it has no items), so an
  unchanged bad file is not retried on every run.
- ``items(id, file_id, start_s, end_s, tag, tag_source, embedding, tag_confidence)`` — the whole
  file (``start_s = 0``, ``end_s = duration_s``) and its onset segments; ``embedding`` is a
  float32 little-endian BLOB of ``embedding_dim`` values, L2-normalised; ``tag_confidence`` the
  classifier's probability of its tag (0–1; ``NULL`` for a tag from the path).
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from . import LibraryError

#: Written to ``PRAGMA user_version``. A database with a higher version is refused (written by a
#: newer LatentMorph); version 0 is a fresh file. Migration note per version:
#: 1 — first version; 2 — ``items.tag_confidence`` (added by ``ALTER TABLE`` to a version-1 file).
SCHEMA_VERSION = 2
#: Spans closer than this (seconds; a tenth of a sample at 44.1 kHz) are the same span.
SPAN_MATCH_S = 2e-6

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size_bytes INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    duration_s REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    tag TEXT,
    tag_source TEXT CHECK (tag_source IN ('path', 'classifier')),
    embedding BLOB NOT NULL,
    tag_confidence REAL
);
CREATE INDEX IF NOT EXISTS items_file ON items(file_id);
CREATE INDEX IF NOT EXISTS items_tag ON items(tag);
"""


@dataclass(frozen=True, eq=False)
class Item:
    """One indexed sound: a whole file (``start_s = 0``, ``end_s`` = its duration) or a segment.

    ``tag_source`` is ``"path"`` (from words of the path), ``"classifier"`` (predicted from the
    embedding, with ``tag_confidence`` its probability 0–1) or ``None`` (no tag). ``embedding``:
    float32 ``[D]``, L2-normalised.
    """

    id: int
    path: str
    start_s: float
    end_s: float
    tag: str | None
    tag_source: str | None
    embedding: np.ndarray
    tag_confidence: float | None = None


@dataclass(frozen=True)
class FileRecord:
    """A ``files`` row: what the indexer compares a file on disk against."""

    id: int
    path: str
    size_bytes: int
    mtime_ns: int
    sha256: str
    duration_s: float | None
    error: str | None


@dataclass(frozen=True)
class Segment:
    """An item to write: times in seconds, tag, the float32 ``[D]`` L2-normalised embedding, and
    the classifier's probability of the tag (``None`` for a path tag)."""

    start_s: float
    end_s: float
    tag: str | None
    tag_source: str | None
    embedding: np.ndarray
    tag_confidence: float | None = None


@dataclass(frozen=True)
class FileResult:
    """What indexing one file gave: its identity on disk and its items, or the reason it failed
    (``error`` set, ``duration_s`` ``None``, no segments)."""

    path: str
    size_bytes: int
    mtime_ns: int
    sha256: str
    duration_s: float | None
    error: str | None
    segments: tuple[Segment, ...]


def _blob(embedding: np.ndarray) -> bytes:
    return np.ascontiguousarray(embedding, dtype="<f4").tobytes()


def _vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _item(row: tuple) -> Item:
    """An :class:`Item` from a row of ``Library._ITEM_SELECT``."""
    item_id, path, start_s, end_s, tag, tag_source, blob, confidence = row
    return Item(item_id, path, start_s, end_s, tag, tag_source, _vector(blob), confidence)


class Library:
    """A library database. Open with :meth:`open`; use as a context manager to close it.

    Every write method runs in its own transaction and bumps ``content_version``.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> "Library":
        """Open the database at ``path``; with ``create=True`` a missing file (and its folder) is made.

        Raises:
            LibraryError: the file is missing (and ``create`` is false), is not an SQLite database,
                or has a schema version this code does not know (written by a newer LatentMorph).
        """
        path = Path(path)
        if not create and not path.is_file():
            raise LibraryError(f"no library database at '{path}': run `latentmorph index DIR` first")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(str(path), isolation_level=None)  # transactions are explicit
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as error:
            raise LibraryError(f"'{path}' is not a library database: {error}") from error
        if version > SCHEMA_VERSION:
            db.close()
            raise LibraryError(
                f"'{path}' has library schema version {version}; this LatentMorph reads "
                f"version {SCHEMA_VERSION} (written by a newer LatentMorph?)"
            )
        if version == 0 and not create:
            db.close()
            raise LibraryError(f"'{path}' is not a library database (no schema)")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_mode = WAL")  # readers (search) never block the indexer
        if version < SCHEMA_VERSION:
            with db:
                if version == 1:
                    db.execute("ALTER TABLE items ADD COLUMN tag_confidence REAL")
                db.executescript(_SCHEMA)
                db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('library_id', ?)", (uuid.uuid4().hex,))
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return cls(db, path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- meta -------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def content_version(self) -> str:
        """``<library_id>:<write count>``: changes with every write, and differs between two
        databases (a random id made at creation); keys caches derived from the items (ANN index)."""
        return f"{self.meta('library_id')}:{self.meta('content_version') or 0}"

    def _transaction(self):
        return _Transaction(self)

    # ---- files ------------------------------------------------------------------------------
    def file_records(self) -> dict[str, FileRecord]:
        """All ``files`` rows by path."""
        rows = self._db.execute("SELECT id, path, size_bytes, mtime_ns, sha256, duration_s, error FROM files")
        return {row[1]: FileRecord(*row) for row in rows}

    def failures(self) -> list[tuple[str, str]]:
        """``(path, reason)`` of every file that could not be indexed, sorted by path."""
        return list(self._db.execute("SELECT path, error FROM files WHERE error IS NOT NULL ORDER BY path"))

    def write_files(self, results: Iterable[FileResult], embedding_id: str | None = None) -> None:
        """Insert or replace files with their items in one transaction (a file's previous items are
        deleted). ``embedding_id`` (when given) is recorded as the space of the embeddings.

        Raises:
            LibraryError: an embedding's dimension differs from the one already stored.
        """
        with self._transaction():
            if embedding_id is not None:
                self._set_meta("embedding_id", embedding_id)
            dim = self.meta("embedding_dim")
            for r in results:
                file_id = self._db.execute(
                    "INSERT INTO files(path, size_bytes, mtime_ns, sha256, duration_s, error) "
                    "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET size_bytes = excluded.size_bytes, "
                    "mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, duration_s = excluded.duration_s, "
                    "error = excluded.error RETURNING id",
                    (r.path, r.size_bytes, r.mtime_ns, r.sha256, r.duration_s, r.error),
                ).fetchone()[0]
                self._db.execute("DELETE FROM items WHERE file_id = ?", (file_id,))
                for segment in r.segments:
                    if dim is None:
                        dim = str(segment.embedding.shape[0])
                        self._set_meta("embedding_dim", dim)
                    if segment.embedding.shape != (int(dim),):
                        raise LibraryError(
                            f"embedding of '{r.path}' has shape {segment.embedding.shape}, the library stores [{dim}]"
                        )
                    self._db.execute(
                        "INSERT INTO items(file_id, start_s, end_s, tag, tag_source, embedding, tag_confidence) "
                        "VALUES(?, ?, ?, ?, ?, ?, ?)",
                        (
                            file_id,
                            segment.start_s,
                            segment.end_s,
                            segment.tag,
                            segment.tag_source,
                            _blob(segment.embedding),
                            segment.tag_confidence,
                        ),
                    )

    def update_stats(self, stats: Iterable[tuple[str, int, int]]) -> None:
        """Record new ``(path, size_bytes, mtime_ns)`` of files whose content did not change."""
        with self._transaction():
            self._db.executemany(
                "UPDATE files SET size_bytes = ?, mtime_ns = ? WHERE path = ?",
                [(size, mtime, path) for path, size, mtime in stats],
            )

    def move_file(self, old_path: str, new_path: str, size_bytes: int, mtime_ns: int) -> None:
        """Rename a file's record (same content at a new path): its items stay."""
        with self._transaction():
            self._db.execute(
                "UPDATE files SET path = ?, size_bytes = ?, mtime_ns = ? WHERE path = ?",
                (new_path, size_bytes, mtime_ns, old_path),
            )

    def remove_paths(self, paths: Iterable[str]) -> None:
        """Delete files (and their items) by path."""
        with self._transaction():
            self._db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in paths])

    def clear(self) -> None:
        """Delete every file and item (embeddings of another model or pooling are not comparable)."""
        with self._transaction():
            self._db.execute("DELETE FROM files")
            self._db.execute("DELETE FROM meta WHERE key = 'embedding_dim'")

    # ---- items ------------------------------------------------------------------------------
    _ITEM_SELECT = (
        "SELECT items.id, files.path, items.start_s, items.end_s, items.tag, items.tag_source, "
        "items.embedding, items.tag_confidence FROM items JOIN files ON files.id = items.file_id"
    )

    def items(self, category: str | None = None) -> list[Item]:
        """Every item (files and segments) in id order, or only those tagged ``category``."""
        if category is None:
            rows = self._db.execute(self._ITEM_SELECT + " ORDER BY items.id")
        else:
            rows = self._db.execute(self._ITEM_SELECT + " WHERE items.tag = ? ORDER BY items.id", (category,))
        return [_item(row) for row in rows]

    def items_by_id(self, item_ids: Iterable[int]) -> dict[int, Item]:
        """Items by id (ids that do not exist are left out)."""
        ids = [int(i) for i in item_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(self._ITEM_SELECT + f" WHERE items.id IN ({marks})", ids)
        return {row[0]: _item(row) for row in rows}

    def file_durations(self, paths: Iterable[str]) -> dict[str, float]:
        """Durations in seconds of indexed files by path (unknown or failed files left out)."""
        paths = list(set(paths))
        if not paths:
            return {}
        marks = ",".join("?" * len(paths))
        rows = self._db.execute(
            f"SELECT path, duration_s FROM files WHERE duration_s IS NOT NULL AND path IN ({marks})", paths
        )
        return {path: float(duration) for path, duration in rows}

    def item_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    def embedding_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """``(item_ids int64 [N] ascending, embeddings float32 [N, D])`` of all items."""
        rows = self._db.execute("SELECT id, embedding FROM items ORDER BY id").fetchall()
        dim = int(self.meta("embedding_dim") or 0)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").astype(np.float32)
        return ids, matrix.reshape(len(rows), dim)

    def item_ids_with_tag(self, tag: str) -> np.ndarray:
        """int64 ``[M]`` ascending ids of items tagged ``tag``."""
        rows = self._db.execute("SELECT id FROM items WHERE tag = ? ORDER BY id", (tag,)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def item_of_span(
        self, path: str, size_bytes: int, mtime_ns: int, start_s: float, end_s: float | None
    ) -> Item | None:
        """The item of the file at ``path`` spanning ``start_s`` … ``end_s`` seconds (``None``: to the
        end of the file) within ``SPAN_MATCH_S``, if the file is recorded with this size and
        modification time (the indexer's test for "unchanged"); else ``None``."""
        row = self._db.execute(
            self._ITEM_SELECT + " WHERE files.path = ? AND files.size_bytes = ? AND files.mtime_ns = ? "
            "AND abs(items.start_s - ?) < ? AND abs(items.end_s - coalesce(?, files.duration_s)) < ? "
            "ORDER BY items.id LIMIT 1",
            (path, size_bytes, mtime_ns, start_s, SPAN_MATCH_S, end_s, SPAN_MATCH_S),
        ).fetchone()
        return None if row is None else _item(row)

    def item_ids_of_path(self, path: str) -> list[int]:
        """Ids of the items of the file at ``path`` (empty when it is not indexed)."""
        rows = self._db.execute(
            "SELECT items.id FROM items JOIN files ON files.id = items.file_id WHERE files.path = ?", (path,)
        )
        return [r[0] for r in rows]


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error), bumping ``content_version``."""

    def __init__(self, library: Library):
        self._library = library

    def __enter__(self) -> None:
        self._library._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        db = self._library._db
        if exc_type is not None:
            db.execute("ROLLBACK")
            return
        db.execute(
            "INSERT INTO meta(key, value) VALUES('content_version', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )
        db.execute("COMMIT")
