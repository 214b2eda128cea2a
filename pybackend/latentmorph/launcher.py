"""The ``latentmorph`` command: ``similar`` answered by a warm library server when one listens
(:mod:`latentmorph.library.warm`), else without the Typer app (:mod:`latentmorph.library.quick`);
everything else — and a ``similar`` that fails or asks for help — by the Typer app of
:mod:`latentmorph.cli`.

Nothing heavy is imported before the server is asked: the interpreter, this module and the
standard-library client take ~40 ms, where importing the CLI alone takes ~0.3 s.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the command line (``sys.argv``)."""
    from .library.warm import ask

    reply = ask(sys.argv[1:])
    if reply is not None:
        sys.stdout.write(reply["stdout"])
        sys.stderr.write(reply["stderr"])
        sys.exit(reply["code"])
    if sys.argv[1:2] == ["similar"]:
        # One query is one matrix-vector product: OpenBLAS's thread pool only costs start-up (~40 ms).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        from .library.quick import run

        code = run(sys.argv[1:])
        if code is not None:
            sys.exit(code)
    from .cli import app

    app()
