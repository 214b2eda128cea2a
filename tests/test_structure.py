"""The code's structure: every module imports on its own without import cycles, the backend the
plugin starts does not load the tools, the environment is read in one place (latentmorph.settings)
and documented, no source file grows past 500 lines, and the CLI's limits are the protocol's."""

from __future__ import annotations

import ast
import builtins
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from latentmorph import settings

from .conftest import REPO_ROOT

PACKAGES = {"latentmorph": REPO_ROOT / "pybackend" / "latentmorph",
            "latentmorph_train": REPO_ROOT / "export" / "latentmorph_train"}  # fmt: skip
#: Largest source file, lines.
MAX_LINES = 500
#: Files still over :data:`MAX_LINES`: their owner is splitting them (issue 11). Empty this list.
OVERSIZED_PENDING: set[str] = set()
#: Import cycles in files being edited by their owner. Empty this set.
CYCLES_PENDING: set[str] = set()
#: What the backend core must not import at start-up (the ``tools`` extra and the tool modules).
TOOL_MODULES = ("matplotlib", "scipy", "sklearn", "latentmorph.evaluation", "latentmorph.metrics", "latentmorph.plots",
                "latentmorph.demo", "latentmorph.library.map")  # fmt: skip
#: The backend core: what ``python -m latentmorph.server`` and its handlers import.
CORE_MODULES = ("latentmorph.server", "latentmorph.handlers", "latentmorph.protocol", "latentmorph.audio",
                "latentmorph.model", "latentmorph.morph", "latentmorph.grid")  # fmt: skip


def _modules() -> dict[str, Path]:
    """Dotted name → file of every module of the two packages."""
    found = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of :data:`PACKAGES` that ``name`` imports anywhere in its code (at module level or
    inside a function; not under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):  # drop TYPE_CHECKING blocks
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}
    return {t for t in targets if t in modules and t != name}


def test_no_import_cycles():
    """Guards against modules that import each other (directly or around a loop), at any level:
    onnx_export ↔ train was one."""
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" → ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    new = sorted(set(cycles) - CYCLES_PENDING)
    assert not new, "import cycles:\n" + "\n".join(new)


def test_every_module_imports_on_its_own():
    """Guards against a module that works only when another was imported first. One fresh
    interpreter imports the third-party libraries, then forks once per module: each child imports
    just that module."""
    pytest.importorskip("torch", reason="the training package needs the `train` extra")
    script = r"""
import importlib, json, os, sys, traceback
import numpy, scipy, torch, onnx, onnxruntime, librosa, soundfile, typer, rich  # shared, imported once
failures = {}
for name in json.loads(sys.argv[1]):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            code = 0
        except BaseException:
            os.write(write, traceback.format_exc().encode()[-2000:])
            code = 1
        os._exit(code)
    os.close(write)
    message = os.fdopen(read).read()
    if os.waitpid(pid, 0)[1] != 0:
        failures[name] = message or "crashed"
print(json.dumps(failures))
"""
    names = [n for n in _modules() if not n.endswith(".__main__")]
    result = subprocess.run([sys.executable, "-c", script, json.dumps(names)], capture_output=True, text=True,
                            timeout=600, cwd=REPO_ROOT)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert not failures, "\n\n".join(f"{name}:\n{error}" for name, error in failures.items())


def test_backend_core_does_not_load_the_tools():
    """Guards against the backend the plugin starts pulling in evaluation, plots, the library map,
    matplotlib or scikit-learn (tests/backend_startup.py measures what that costs)."""
    probe = f"import sys; import {', '.join(CORE_MODULES)}; print(' '.join(m for m in {TOOL_MODULES!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(result.stdout.split())
    assert not loaded, f"the backend core imports {sorted(loaded)} at start-up"


def _reads_environment(tree: ast.AST) -> list[int]:
    """Line numbers of ``os.environ.get(…)``, ``os.getenv(…)`` and ``os.environ[…]`` read (not set)."""
    lines = []
    for node in ast.walk(tree):
        text = ast.unparse(node) if isinstance(node, (ast.Call, ast.Subscript)) else ""
        if isinstance(node, ast.Call) and re.match(r"(os\.)?(environ\.get|getenv)\(", text):
            lines.append(node.lineno)
        elif isinstance(node, ast.Subscript) and text.startswith("os.environ[") and isinstance(node.ctx, ast.Load):
            lines.append(node.lineno)
    return lines


def test_only_settings_reads_the_environment():
    """Guards against environment variables read in many places (7 before issue 11), undocumented."""
    readers = {}
    for folder in ("pybackend", "export", "tests", "presets"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            relative = path.relative_to(REPO_ROOT).as_posix()
            lines = _reads_environment(ast.parse(path.read_text(encoding="utf-8")))
            if lines and relative != "pybackend/latentmorph/settings.py":
                readers[relative] = lines
    assert not readers, f"read the environment through latentmorph.settings instead: {readers}"


def test_readme_lists_every_environment_variable():
    """Guards against a variable missing from the README (LATENTMORPH_BACKEND_TIMEOUT_S was)."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(LATENTMORPH_[A-Z0-9_]+)` \|", table, flags=re.M)
    assert listed == [variable.name for variable in settings.VARIABLES]
    mentioned = set(re.findall(r"LATENTMORPH_[A-Z0-9_]+", "\n".join(
        path.read_text(encoding="utf-8", errors="replace") for folder in ("pybackend", "plugin", "export")
        for path in (REPO_ROOT / folder).rglob("*") if path.suffix in {".py", ".cpp", ".h"})))  # fmt: skip
    build_settings = {"LATENTMORPH_PLUGIN_SOURCES", "LATENTMORPH_PLUGIN_DEFINITIONS"}  # CMake, not the environment
    assert mentioned - build_settings <= set(listed), f"not in the README: {mentioned - build_settings - set(listed)}"


def test_no_source_file_is_over_500_lines():
    """Guards against modules that mix concerns (data.py had 1,323 lines)."""
    long = {}
    for folder in ("pybackend", "export"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            relative = path.relative_to(REPO_ROOT).as_posix()
            count = len(path.read_text(encoding="utf-8").splitlines())
            if count > MAX_LINES and relative not in OVERSIZED_PENDING:
                long[relative] = count
    assert not long, f"over {MAX_LINES} lines: {long}"


def test_cli_limits_are_the_protocol_limits():
    """Guards against the CLI allowing what the backend refuses (`new --count` allowed 64, the server 16)."""
    from typer.main import get_command

    from latentmorph import protocol
    from latentmorph.cli import app

    commands = get_command(app).commands  # type: ignore[attr-defined]
    limits = {(name, param.name): getattr(param, "max", None) for name, command in commands.items()
              for param in command.params}  # fmt: skip
    assert limits[("new", "count")] == limits[("variation", "count")] == protocol.MAX_COUNT
    assert limits[("morph", "steps")] == protocol.MAX_STEPS


def test_a_tool_command_without_the_tools_extra_says_what_to_install(tmp_path):
    """Guards against a bare traceback (or a message eaten as markup) when the `tools` extra is
    missing: matplotlib blocked, `latentmorph map` fails with one line naming the extra."""
    script = (
        "import sys; sys.modules['matplotlib'] = None\n"
        f"sys.argv = ['latentmorph', 'map', '--out', {str(tmp_path / 'map.html')!r}]\n"
        "from latentmorph.cli import app; app()"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "the `matplotlib` module is missing" in result.stderr and "pip install -e '.[tools]'" in result.stderr


def test_every_error_class_derives_from_latentmorph_error():
    """Guards against exception classes without the common base (nine had none before issue 11), so
    the backend maps every error to its code in one place (latentmorph.errors)."""
    bases: dict[str, list[str]] = {}
    for path in _modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [ast.unparse(base).rpartition(".")[2] for base in node.bases]

    def derives(name: str, seen: frozenset[str] = frozenset()) -> bool:
        return name == "LatentMorphError" or any(
            base not in seen and derives(base, seen | {name}) for base in bases.get(name, [])
        )

    builtin_errors = {name for name in dir(builtins) if name.endswith(("Error", "Exception"))}
    errors = [name for name in bases if name != "LatentMorphError" and _is_exception(name, bases, builtin_errors)]
    assert errors, "no exception classes found: the test reads the wrong files"
    assert not [name for name in errors if not derives(name)], "derive these from LatentMorphError"


def _is_exception(name: str, bases: dict[str, list[str]], builtin_errors: set[str], depth: int = 0) -> bool:
    """Whether the class ``name`` of the packages derives from a builtin exception."""
    return depth < 10 and any(
        base in builtin_errors or (base in bases and _is_exception(base, bases, builtin_errors, depth + 1))
        for base in bases.get(name, [])
    )
