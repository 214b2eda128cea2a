"""Sample-library index: per-file and per-segment similarity embeddings in SQLite, similarity
search, tags.

- :mod:`.store` — the SQLite database (:class:`~.store.Library`, :class:`~.store.Item`).
- :mod:`.similarity_model` — the similarity embedding (ONNX): audio → unit vector + category probabilities.
- :mod:`.embedding` — one vector and classifier tag per file / onset segment.
- :mod:`.indexer` — incremental, parallel (process pool or Ray) indexing of folders.
- :mod:`.search` — nearest neighbours with FAISS (:func:`~.search.similar`); :mod:`.warm` — a warm
  search server for the command line.
- :mod:`.tags` — category tags from path words, else the classifier head, with its confidence.
- :mod:`.retrieval` — precision@k, mAP and confusion on held-out sources against the VAE latent
  (:mod:`.vae_embedding`) and MFCC statistics.
"""

from __future__ import annotations

from pathlib import Path

from .. import settings
from ..errors import LatentMorphError


class LibraryError(LatentMorphError):
    """The library database is missing, empty, of an unknown schema version, or a query is invalid."""

    code = "no_library"


class QueryError(LibraryError):
    """The query sound of a search cannot be read or is silent."""

    code = "audio_load_error"


def default_db_path() -> Path:
    """The library database: :func:`latentmorph.settings.library_db` (``$LATENTMORPH_LIBRARY_DB``,
    else ``library.sqlite`` in the user data folder)."""
    return settings.library_db()
