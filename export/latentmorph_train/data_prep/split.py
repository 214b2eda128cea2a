"""The train/valid split of a recording."""

from __future__ import annotations

import hashlib


def split_for_key(recording_key: str) -> str:
    """Deterministic split of a recording: ``"valid"`` when sha1(key) % 10 == 0, else ``"train"``.

    Every clip carrying the same ``recording_key`` lands on the same side, so train and valid are
    disjoint by recording (about 10 % of keys are valid).
    """
    digest = hashlib.sha1(recording_key.encode("utf-8")).hexdigest()
    return "valid" if int(digest, 16) % 10 == 0 else "train"
