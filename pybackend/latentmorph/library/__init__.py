"""Sample-library index: per-file and per-segment latent embeddings in SQLite, similarity search,
tags.

- :mod:`.store` — the SQLite database (:class:`~.store.Library`, :class:`~.store.Item`).
- :mod:`.embedding` — latent sequence → one L2-normalised vector per file / onset segment.
- :mod:`.indexer` — incremental, parallel (process pool or Ray) indexing of folders.
- :mod:`.search` — nearest neighbours with FAISS (:func:`~.search.similar`).
- :mod:`.tags` — category tags from path words and a classifier on the embeddings.
- :mod:`.retrieval` — precision@k evaluation against an MFCC baseline.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


class LibraryError(Exception):
    """The library database is missing, empty, of an unknown schema version, or a query is invalid."""


def default_db_path() -> Path:
    """``$LATENTMORPH_LIBRARY_DB`` when set, else ``<user data dir>/LatentMorph/library.sqlite``
    (``platformdirs.user_data_dir``: ``~/.local/share/LatentMorph`` on Linux)."""
    override = os.environ.get("LATENTMORPH_LIBRARY_DB")
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir("LatentMorph")) / "library.sqlite"
