"""Debian packages: fetched with ``apt-get download``, extracted with ``dpkg -x``, and the
licence of an installed file by the package's ``debian/copyright``."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

from rich.console import Console


@dataclasses.dataclass(frozen=True)
class Package:
    """An extracted Debian package: ``root`` is the ``dpkg -x`` folder, ``version`` its version."""

    name: str
    version: str
    root: Path


def fetch_package(name: str, data_dir: Path, console: Console | None = None) -> Package:
    """``apt-get download`` + ``dpkg -x`` a package under ``data_dir`` unless already done.

    The .deb goes to ``data_dir/debs``; the tree to ``data_dir/packages/<name>``, completed by a
    ``.extracted`` marker holding the .deb file name (so an interrupted extraction is redone).

    Raises:
        RuntimeError: apt-get or dpkg failed (message includes their stderr).
    """
    debs = data_dir / "debs"
    root = data_dir / "packages" / name
    marker = root / ".extracted"
    if marker.exists():
        deb_name = marker.read_text().strip()
    else:
        debs.mkdir(parents=True, exist_ok=True)
        found = sorted(debs.glob(f"{name}_*.deb"))
        if not found:
            if console:
                console.print(f"downloading [bold]{name}[/] with apt-get download")
            run = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True, text=True)
            found = sorted(debs.glob(f"{name}_*.deb"))
            if run.returncode != 0 or not found:
                raise RuntimeError(f"apt-get download {name} failed: {run.stderr.strip()}")
        deb = found[-1]
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        run = subprocess.run(["dpkg", "-x", str(deb), str(root)], capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"dpkg -x {deb.name} failed: {run.stderr.strip()}")
        marker.write_text(deb.name + "\n")
        deb_name = deb.name
    version = deb_name.split("_")[1].replace("%3a", ":") if deb_name.count("_") >= 2 else "unknown"
    return Package(name, version, root)


def copyright_license(package: Package, path: Path) -> str:
    """Licence of an installed file by the package's machine-readable ``debian/copyright`` (DEP-5).

    DEP-5 ``Files:`` patterns name paths in the *source* tree (``share/sounds/x.ogg``), which
    the binary package installs under a prefix (``usr/share/sounds/x.ogg``); so the installed path
    and its suffixes are looked up, and a stanza naming the file beats the catch-all ``*``.
    Parsing and glob semantics are python-debian's (``debian.copyright``; the last matching stanza
    wins, as DEP-5 says).

    Args:
        package: the extracted package (``usr/share/doc/<name>/copyright`` inside it).
        path: an absolute path inside ``package.root``.

    Returns:
        The licence synopsis (e.g. ``"CC0-1.0"``), or ``"see debian/copyright"`` when the file is
        missing, not DEP-5, or names no stanza for ``path``.
    """
    from debian.copyright import Copyright, Error, NotMachineReadableError

    copyright_path = package.root / "usr/share/doc" / package.name / "copyright"
    try:
        with open(copyright_path, encoding="utf-8") as f:
            copyright_ = Copyright(f, strict=False)
    except (OSError, UnicodeDecodeError, Error, NotMachineReadableError, ValueError):
        return "see debian/copyright"
    parts = path.relative_to(package.root).parts
    catch_all = None
    for start in range(len(parts)):
        paragraph = copyright_.find_files_paragraph("/".join(parts[start:]))
        if paragraph is None or paragraph.license is None:
            continue
        if tuple(paragraph.files) != ("*",):
            return paragraph.license.synopsis
        catch_all = catch_all or paragraph.license.synopsis
    return catch_all or "see debian/copyright"
