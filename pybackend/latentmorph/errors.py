"""The base class of LatentMorph's errors, which carries the protocol error code (docs/protocol.md).

A module raises its own subclass (``AudioLoadError``, ``LibraryError``, ...) with a class-level
:attr:`LatentMorphError.code`; the backend's ``respond()`` turns any of them into an error answer
with that code (:func:`latentmorph.protocol.error_code`), so no handler maps errors by hand.
"""

from __future__ import annotations


class LatentMorphError(Exception):
    """An error with a protocol error ``code``: ``bad_request``, ``protocol_version``,
    ``audio_load_error``, ``model_error``, ``no_library`` or ``internal`` (the default)."""

    code: str = "internal"
