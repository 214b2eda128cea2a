"""The backend process the plugin starts: ``python -m latentmorph.server``.

Speaks protocol version 1 of docs/protocol.md (:mod:`latentmorph.protocol`) on stdin/stdout and
hands each request to its handler (:mod:`latentmorph.handlers`). Every request that parses gets an
answer; a failure becomes ``{"ok": false, "error": {"code", "message"}}`` with the code of the
:class:`~latentmorph.errors.LatentMorphError` raised, ``internal`` for anything else. Logs go to
stderr. The process's file descriptor 1 is pointed at stderr at start-up, so a stray print from
any library (or from C code) can never corrupt the protocol stream.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, BinaryIO

from .errors import LatentMorphError
from .handlers import HANDLERS
from .protocol import PROTOCOL_VERSION, BadRequest, Request, check_version, error_answer, read_frame, write_frame

log = logging.getLogger(__name__)


def error_code(error: Exception) -> str:
    """The protocol error code of ``error``: its :attr:`~LatentMorphError.code`, else ``internal``."""
    return error.code if isinstance(error, LatentMorphError) else "internal"


def respond(request: Request) -> dict[str, Any]:
    """Dispatch one request to its handler and wrap the result or the error."""
    try:
        check_version(request)
        cmd = request.get("cmd")
        handler = HANDLERS.get(cmd) if isinstance(cmd, str) else None
        if handler is None and cmd != "shutdown":
            raise BadRequest(f"unknown cmd {cmd!r}")
        result = handler(request) if handler else {}
        return {"v": PROTOCOL_VERSION, "id": request.get("id"), "ok": True, **result}
    except Exception as error:  # a bug must still answer, never kill the pipe
        code = error_code(error)
        if code == "internal":
            log.exception("internal error")
            message = f"{type(error).__name__}: {error}"
        else:
            message = str(error)
        return error_answer(request.get("id"), code, message)


def serve(stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Answer requests until EOF or ``shutdown``; returns the exit status (0, or 2 on a broken stream)."""
    while True:
        try:
            request = read_frame(stdin)
        except BadRequest as error:
            write_frame(stdout, error_answer(None, error.code, str(error)))
            continue
        except EOFError as error:
            log.error("broken stream: %s", error)
            return 2
        if request is None:
            return 0
        write_frame(stdout, respond(request))
        if request.get("cmd") == "shutdown":
            return 0


def main() -> int:
    """Serve the plugin on stdin/stdout (file descriptor 1 redirected to stderr); the exit status."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="latentmorph backend: %(message)s")
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed from now on lands on stderr
    sys.stdout = sys.stderr
    return serve(sys.stdin.buffer, protocol_out)


if __name__ == "__main__":
    sys.exit(main())
