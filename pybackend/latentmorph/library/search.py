"""Nearest neighbours of a query sound among the library's items, by cosine distance of their
similarity embeddings (:mod:`.similarity_model`).

The embeddings are L2-normalised, so the inner product is the cosine similarity and
``distance = 1 − cos`` (0 = same direction, 2 = opposite). Up to ``EXACT_MAX_ITEMS`` items they
are compared exactly with NumPy (:func:`exact_search`, well under a millisecond at 20k items);
above that FAISS searches an HNSW graph (Malkov & Yashunin 2018; ``M = HNSW_M`` links per node).
The matrix (and graph) is cached next to the database in ``<db>.ann.npz`` keyed by the
database's ``content_version``, so it is rebuilt only after the library changed.

A query file the library holds unchanged (same path, size and modification time as indexed, the
indexer's own test) is not decoded or embedded again: its stored vector is the one embedding it
would give. Then neither ONNX Runtime nor FAISS (for a library of up to ``EXACT_MAX_ITEMS``) is
imported, which is most of a cold ``latentmorph similar``'s time.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import LibraryError, QueryError
from .similarity_model import file_embedding_id
from .store import Item, Library

if TYPE_CHECKING:
    import faiss

    from .similarity_model import SimilarityModel

#: Up to this many items the search is exact (brute force); above it, HNSW.
EXACT_MAX_ITEMS = 20_000
#: HNSW graph degree, construction and search breadth. Measured here at 100k 96-D unit vectors,
#: one thread: uniformly random vectors (the worst case) recall@10 0.82 / 0.92 / 0.98 at efSearch
#: 128 / 256 / 512 (1.1 / 2.2 / 4.3 ms); clustered vectors 1.0 already at 128 (0.26 ms).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 512
#: Layout of the ``<db>.ann.npz`` cache; a file of another layout is rebuilt. 2: ``index`` holds
#: only an HNSW graph (empty for an exact search).
CACHE_FORMAT = 2
#: A hit starting at 0 and ending this close to its file's indexed duration (seconds) is the whole file.
SPAN_TOLERANCE_S = 1e-3


@dataclass
class Hit:
    """One neighbour: the file, the span of the item in seconds, cosine distance, its tag, and
    whether the span is a segment (part of the file) rather than the whole file."""

    path: str
    start_s: float
    end_s: float
    distance: float
    tag: str | None
    segment: bool = False

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
            "distance": round(self.distance, 6),
            "tag": self.tag,
            "segment": self.segment,
        }


#: Indexes loaded in this process: cache file → (content_version, AnnIndex).
_LOADED: dict[str, tuple[str, "AnnIndex"]] = {}


def exact_search(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``matrix`` (float32 ``[N, D]``) with the ``k`` largest inner products with ``query``
    (float32 ``[D]``): ``(rows int64 [min(k, N)], similarities float32 [min(k, N)])``, largest
    first, ties by row.

    The products are one ``np.einsum`` loop on the calling thread, not a BLAS matrix-vector
    product: OpenBLAS splits that over its threads, which on a loaded machine wait for cores
    (10k × 256-D, 2 cores busy with other work: 8.0 ms median through BLAS, 0.47 ms here; idle
    0.22 vs 0.50 ms)."""
    similarity = np.einsum("nd,d->n", matrix, query)
    rows = np.arange(len(similarity)) if k >= len(similarity) else np.argpartition(-similarity, k - 1)[:k]
    rows = rows[np.lexsort((rows, -similarity[rows]))]
    return rows.astype(np.int64), similarity[rows]


class AnnIndex:
    """The item embeddings as of one ``content_version`` of a library, and their HNSW graph when
    there are more than ``EXACT_MAX_ITEMS``.

    Attributes: ``item_ids`` int64 ``[N]`` ascending, ``matrix`` float32 ``[N, D]``, ``index`` (a
    FAISS ``IndexHNSWFlat`` over the rows of ``matrix``, row position = FAISS label; ``None`` when
    the search is exact).
    """

    def __init__(self, item_ids: np.ndarray, matrix: np.ndarray, index: "faiss.Index | None"):
        self.item_ids, self.matrix, self.index = item_ids, matrix, index

    @classmethod
    def build(cls, item_ids: np.ndarray, matrix: np.ndarray) -> "AnnIndex":
        """Exact (no FAISS index) up to ``EXACT_MAX_ITEMS`` rows, ``IndexHNSWFlat`` (inner product) above."""
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if len(matrix) <= EXACT_MAX_ITEMS:
            return cls(item_ids, matrix, None)
        import faiss

        hnsw = faiss.IndexHNSWFlat(matrix.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        hnsw.add(matrix)
        return cls(item_ids, matrix, hnsw)

    @classmethod
    def for_library(cls, library: Library) -> "AnnIndex":
        """The index of ``library`` as of its ``content_version``: kept in this process (a backend
        answers repeated queries without reloading), else loaded from the file cache, else built and
        cached."""
        cache = Path(str(library.path) + ".ann.npz")
        version = library.content_version
        loaded = _LOADED.get(str(cache))
        if loaded is not None and loaded[0] == version:
            return loaded[1]
        _LOADED[str(cache)] = (version, cls._load_or_build(library, cache, version))
        return _LOADED[str(cache)][1]

    @classmethod
    def _load_or_build(cls, library: Library, cache: Path, version: str) -> "AnnIndex":
        if cache.is_file():
            try:
                with np.load(cache) as data:
                    if str(data["content_version"]) == version and data.get("format") == CACHE_FORMAT:
                        index = None
                        if data["index"].size:
                            import faiss

                            index = faiss.deserialize_index(data["index"])
                        return cls(data["item_ids"], data["matrix"], index)
            except (OSError, ValueError, KeyError, RuntimeError):  # torn or foreign file: rebuild
                pass
        item_ids, matrix = library.embedding_matrix()
        built = cls.build(item_ids, matrix)
        graph = np.zeros(0, np.uint8)
        if built.index is not None:
            import faiss

            graph = faiss.serialize_index(built.index)
        buffer = io.BytesIO()
        np.savez(
            buffer, format=CACHE_FORMAT, content_version=version, item_ids=item_ids, matrix=built.matrix, index=graph
        )
        partial = cache.with_name(cache.name + f".{os.getpid()}.tmp")
        partial.write_bytes(buffer.getvalue())
        os.replace(partial, cache)  # atomic: a concurrent reader sees the old or the new file
        return built

    def search(self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The ``k`` items nearest to ``query`` (float32 ``[D]``, L2-normalised).

        Args:
            allowed_ids: restrict to these item ids (e.g. one category); ``None`` = all.
        Returns:
            ``[(item_id, cosine distance)]`` nearest first.
        """
        query = np.ascontiguousarray(query, dtype=np.float32)
        if allowed_ids is not None:
            # A subset is searched exactly: a filtered HNSW walk loses recall on rare categories.
            rows = np.flatnonzero(np.isin(self.item_ids, allowed_ids))
            found, similarity = exact_search(self.matrix[rows], query, k)
            found = rows[found]
        elif self.index is None:
            found, similarity = exact_search(self.matrix, query, k)
        else:
            found, similarity = self._search_graph(self.index, query, k)
        return [(int(self.item_ids[row]), float(np.clip(1.0 - sim, 0.0, 2.0))) for row, sim in zip(found, similarity)]

    @staticmethod
    def _search_graph(index: "faiss.Index", query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        # One query gains nothing from OpenMP threads, and their spin-waits on busy cores cost
        # ~100× (16 ms instead of 0.18 ms for 10k vectors, measured on 2 loaded cores).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k))  # type: ignore[attr-defined]
            similarity, labels = index.search(query[None], k, params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        keep = labels[0] >= 0
        return labels[0][keep].astype(np.int64), similarity[0][keep]


def _check_span(start_s: float | None, end_s: float | None) -> None:
    if start_s is not None and start_s < 0:
        raise LibraryError(f"--start must be ≥ 0 s, got {start_s}")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise LibraryError(f"--end ({end_s} s) must be after --start ({start_s} s)")


def embed_query(
    model: "SimilarityModel", query_path: Path, start_s: float | None = None, end_s: float | None = None
) -> np.ndarray:
    """The file-level embedding (float32 ``[D]``) of ``query_path``, or of its span ``[start_s, end_s)``.

    Raises:
        QueryError: the file is unreadable or silent. LibraryError: the span is empty or outside the file.
    """
    from ..audio import AudioLoadError, load_audio
    from .embedding import SilentAudioError, embed_audio

    _check_span(start_s, end_s)
    try:
        audio, rate = load_audio(query_path, model.sample_rate, max_duration_s=max(end_s or 0.0, 120.0))
    except AudioLoadError as error:
        raise QueryError(f"cannot read the query '{query_path}': {error.reason}") from error
    first = int(round((start_s or 0.0) * rate))
    stop = len(audio) if end_s is None else min(len(audio), int(round(end_s * rate)))
    if first >= stop:
        raise LibraryError(
            f"the span {start_s or 0} s – {end_s if end_s is not None else 'end'} is outside "
            f"'{query_path}' ({len(audio) / rate:.3f} s long)"
        )
    try:
        return embed_audio(model, audio[first:stop], segments=False)[0].embedding
    except SilentAudioError as error:
        raise QueryError(f"the query '{query_path}' is {error}") from error


def _stored_query(library: Library, query_path: Path, start_s: float | None, end_s: float | None):
    """The stored embedding (float32 ``[D]``) of the query when the library holds its file unchanged
    and an item with exactly its span (the whole file without ``start_s``/``end_s``); else ``None``."""
    try:
        stat = os.stat(query_path)
    except OSError:
        return None  # embedding the query reports why it cannot be read
    item = library.item_of_span(os.path.abspath(query_path), stat.st_size, stat.st_mtime_ns, start_s or 0.0, end_s)
    return None if item is None else item.embedding


def similar(
    db_path: Path,
    query_path: Path,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    k: int = 10,
    category: str | None = None,
    model: SimilarityModel | None = None,
) -> list[Hit]:
    """The ``k`` library items nearest to a query sound, nearest first.

    Items of the query file itself (when it is in the library) are left out.

    Args:
        db_path: the library database (:func:`latentmorph.library.default_db_path`).
        query_path: an audio file; ``start_s``/``end_s`` (seconds) pick a span of it.
        k: number of hits (≥ 1).
        category: only items with this tag.
        model: the similarity model (default: the shipped one, loaded only when the query is not
            in the library unchanged); must be the one the library was indexed with. A query the
            library holds unchanged, with an item of exactly its span, takes that item's vector.
    Returns:
        up to ``k`` :class:`Hit`, by ascending cosine distance.
    Raises:
        LibraryError: database missing or empty, indexed with another model, query unreadable,
            silent or span invalid, ``k`` < 1.
    """
    if k < 1:
        raise LibraryError(f"k must be ≥ 1, got {k}")
    _check_span(start_s, end_s)
    with Library.open(db_path) as library:
        if library.item_count() == 0:
            raise LibraryError(f"the library '{db_path}' is empty: run `latentmorph index DIR` first")
        stored = _stored_query(library, query_path, start_s, end_s)
        if model is None and stored is None:
            from .similarity_model import get_similarity_model

            model = get_similarity_model()
        space = model.embedding_id if model is not None else file_embedding_id()
        if library.meta("embedding_id") != space:
            raise LibraryError(
                f"the library holds embeddings {library.meta('embedding_id')}, this query makes "
                f"{space}: re-index with `latentmorph index`"
            )
        if stored is None:
            assert model is not None
            stored = embed_query(model, query_path, start_s, end_s)
        query = stored
        ann = AnnIndex.for_library(library)
        allowed = library.item_ids_with_tag(category) if category is not None else None
        own = set(library.item_ids_of_path(os.path.abspath(query_path)))
        found = ann.search(query, k + len(own), allowed)
        found = [(item_id, d) for item_id, d in found if item_id not in own][:k]
        items = library.items_by_id(item_id for item_id, _ in found)
        durations = library.file_durations(item.path for item in items.values())

    def is_segment(item: Item) -> bool:  # the whole-file item spans 0 … the file's duration
        return item.start_s > 0.0 or item.end_s < durations.get(item.path, item.end_s) - SPAN_TOLERANCE_S

    return [
        Hit(items[i].path, items[i].start_s, items[i].end_s, d, items[i].tag, is_segment(items[i])) for i, d in found
    ]
