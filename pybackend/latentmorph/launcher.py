"""The ``latentmorph`` command: ``similar`` answered by a warm library server when one listens
(:mod:`latentmorph.library.warm`), everything else — and ``similar`` without a server — by the
Typer app of :mod:`latentmorph.cli`.

Nothing heavy is imported before the server is asked: the interpreter, this module and the
standard-library client take ~40 ms, where importing the CLI alone takes ~0.3 s.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Run the command line (``sys.argv``)."""
    from .library.warm import ask

    reply = ask(sys.argv[1:])
    if reply is not None:
        sys.stdout.write(reply["stdout"])
        sys.stderr.write(reply["stderr"])
        sys.exit(reply["code"])
    from .cli import app

    app()
