"""Values the plugin (C++) and the backend share, read from ``shared_constants.json`` beside this
module: the one place they are written (CMake generates the plugin's ``SharedConstants.h`` from it).

- ``PROTOCOL_VERSION``: the plugin ↔ backend protocol version (docs/protocol.md), the ``v`` of
  every request.
- ``MAX_FRAME_BYTES``: the largest payload of one protocol frame, bytes (16 MiB).
- ``AUDIO_EXTENSIONS``: the file extensions the audio loader reads and the plugin's slots accept,
  lower case with the dot; matching is case-insensitive.
"""

from __future__ import annotations

import json
from pathlib import Path

_VALUES = json.loads((Path(__file__).resolve().parent / "shared_constants.json").read_text(encoding="utf-8"))

PROTOCOL_VERSION: int = _VALUES["protocol_version"]
MAX_FRAME_BYTES: int = _VALUES["max_frame_bytes"]
AUDIO_EXTENSIONS: frozenset[str] = frozenset(_VALUES["audio_extensions"])
