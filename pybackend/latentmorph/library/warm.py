"""A warm search server for the command line: ``latentmorph similar`` answers through it when it runs.

A cold ``latentmorph similar`` spends most of its time starting: the interpreter and NumPy
(~0.15 s on the 2-core VM for a query the library holds, :mod:`.quick`), plus ONNX Runtime for
one it does not (~0.25 s), before a millisecond search. ``latentmorph library-server`` keeps all
of that loaded (and the similarity model, and each
library's ANN index, :class:`~.search.AnnIndex`) and listens on a Unix socket
(:func:`socket_path`, mode 0600 in a 0700 folder: only this user). The ``latentmorph`` launcher
(:mod:`latentmorph.launcher`) sends the arguments of ``similar`` there before importing anything
heavy — this module's client half uses the standard library only — and prints the answer; when
no server listens it runs the command itself, so the server changes speed, never results.

Protocol: one JSON line each way per connection. Request ``{"argv": [...], "cwd": str, "env":
{LATENTMORPH_*, COLUMNS}}``; reply ``{"stdout": str, "stderr": str, "code": int}``. Only ``similar`` is
served. The server exits after ``idle_s`` seconds without a request.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

#: Commands the server runs for a client.
SERVED = ("similar",)
#: The client waits at most this long for a reply before running the command itself (seconds).
CLIENT_TIMEOUT_S = 30.0
#: Default life of an idle server (seconds).
IDLE_S = 1800.0
_ENV_PREFIX = "LATENTMORPH_"


def _is_forwarded(name: str) -> bool:
    """Environment variables a client sends: ``LATENTMORPH_*`` and ``COLUMNS`` (rich lays tables out
    for the client's terminal width)."""
    return name.startswith(_ENV_PREFIX) or name == "COLUMNS"


def socket_path() -> Path:
    """Where the server listens: :func:`latentmorph.settings.library_socket`."""
    from .. import settings

    return settings.library_socket()


def _send(connection: socket.socket, document: dict) -> None:
    connection.sendall(json.dumps(document).encode() + b"\n")


def _receive(connection: socket.socket) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("the peer closed the connection mid-message")
        data += chunk
    return json.loads(data)


def ask(argv: list[str]) -> dict | None:
    """The server's reply to ``argv`` (``{"stdout", "stderr", "code"}``), or ``None`` when the
    command is not served or no server answers (then the caller runs it itself)."""
    if not argv or argv[0] not in SERVED:
        return None
    path = socket_path()
    if not path.exists():
        return None
    import shutil

    env = {k: v for k, v in os.environ.items() if _is_forwarded(k)}
    env.setdefault("COLUMNS", str(shutil.get_terminal_size().columns))
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(CLIENT_TIMEOUT_S)
            connection.connect(str(path))
            _send(connection, {"argv": argv, "cwd": os.getcwd(), "env": env})
            return _receive(connection)
    except (OSError, ValueError, ConnectionError):  # stale socket, a server that died or timed out
        return None


def _run(cli, argv: list[str], cwd: str, env: dict[str, str]) -> dict:
    """Run one command of ``cli`` (the root ``click.Command``) in this process with the client's
    folder and forwarded environment, capturing what it writes."""
    import contextlib
    import io

    import click

    if not argv or argv[0] not in SERVED:
        return {"stdout": "", "stderr": f"the library server runs only {', '.join(SERVED)}\n", "code": 2}
    saved_env = {k: v for k, v in os.environ.items() if _is_forwarded(k)}
    saved_cwd = os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.chdir(cwd)
        for key in saved_env:
            del os.environ[key]
        os.environ.update(env)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(args=argv, prog_name="latentmorph", standalone_mode=False)
                code = code if isinstance(code, int) else 0
            except click.exceptions.Exit as stop:
                code = stop.exit_code
            except click.ClickException as error:
                error.show()
                code = error.exit_code
    finally:
        os.chdir(saved_cwd)
        for key in [k for k in os.environ if _is_forwarded(k)]:
            del os.environ[key]
        os.environ.update(saved_env)
    return {"stdout": out.getvalue(), "stderr": err.getvalue(), "code": code}


def serve(cli, idle_s: float = IDLE_S) -> None:
    """Answer clients on :func:`socket_path` with ``cli`` (the root ``click.Command`` of the
    ``latentmorph`` app) one at a time until ``idle_s`` seconds pass without one; the socket file is
    removed on exit. The search (FAISS) and the similarity model are loaded first, so that the first
    answer is as fast as the next.

    Raises:
        OSError: another server already listens there.
    """
    from .search import similar  # noqa: F401  (loaded now, not at the first request)
    from .similarity_model import get_similarity_model

    get_similarity_model()
    path = socket_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if ask(["similar", "--help"]) is not None:
        raise OSError(f"a library server already listens on {path}")
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        os.chmod(path, 0o600)
        server.listen(8)
        server.settimeout(idle_s)
        try:
            while True:
                try:
                    connection, _ = server.accept()
                except socket.timeout:
                    return
                with connection:
                    try:
                        request = _receive(connection)
                        _send(connection, _run(cli, list(request["argv"]), str(request["cwd"]), dict(request["env"])))
                    except (OSError, ValueError, KeyError, TypeError, ConnectionError):
                        continue  # a client that went away or sent garbage costs only its request
        finally:
            path.unlink(missing_ok=True)
