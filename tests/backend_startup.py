"""Start time and memory of the backend process the plugin starts (``python -m latentmorph.server``).

``python tests/backend_startup.py [--runs 5]`` spawns the backend as the plugin does
(plugin/backend/BackendClient.cpp), sends one request (``ping``: the imports only; ``hello``: also
the model load) and prints, per request, the median over the runs of the time from spawn to the
first reply (ms) and of the process's resident set size right after it (VmRSS, MiB), plus the
tool modules that importing the server loads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

#: Modules the backend core must not import at start (they belong to the tools extra).
TOOL_MODULES = (
    "matplotlib",
    "scipy",
    "sklearn",
    "latentmorph.evaluation",
    "latentmorph.metrics",
    "latentmorph.plots",
    "latentmorph.demo",
    "latentmorph.library.map",
)
_PROBE = "import sys, json; print(json.dumps([m for m in %r if m in sys.modules]), file=sys.stderr)" % (TOOL_MODULES,)


def _frame(message: dict) -> bytes:
    payload = json.dumps(message).encode()
    return struct.pack("<I", len(payload)) + payload


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def measure(cmd: str, python: str = sys.executable) -> tuple[float, float]:
    """One backend start: (ms from spawn to the first reply to ``cmd``, RSS in MiB after it)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [python, "-m", "latentmorph.server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(_frame({"v": 1, "id": 1, "cmd": cmd}))
    process.stdin.flush()
    (length,) = struct.unpack("<I", process.stdout.read(4))
    reply = json.loads(process.stdout.read(length))
    elapsed_ms = (time.perf_counter() - started) * 1000
    rss = _rss_mib(process.pid)
    process.stdin.close()
    process.wait(timeout=30)
    if not reply.get("ok"):
        raise RuntimeError(f"{cmd} failed: {reply}")
    return elapsed_ms, rss


def loaded_tools(python: str = sys.executable) -> list[str]:
    """The :data:`TOOL_MODULES` that importing the server (and its handlers) loads."""
    result = subprocess.run(
        [python, "-c", "import latentmorph.server; " + _PROBE], capture_output=True, text=True, check=True
    )
    return json.loads(result.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    report: dict = {"runs": args.runs, "tool_modules_loaded": loaded_tools()}
    for cmd in ("ping", "hello"):
        samples = [measure(cmd) for _ in range(args.runs)]
        report[cmd] = {
            "start_ms_median": round(statistics.median(s[0] for s in samples), 1),
            "rss_mib_median": round(statistics.median(s[1] for s in samples), 1),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
