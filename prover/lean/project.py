"""Versions of everything a result depends on, read from files only (DESIGN contract 1).

Lean comes from `lean-toolchain`; Mathlib and the REPL from `lake-manifest.json` when `lake` has written one,
else from the lakefile's pins; the package version from `prover.__version__`; the git hash from the checkout's
`.git` files. Nothing here runs `lean`, `lake` or `git`, so a machine that reaches Lean only through
`--repl-cmd` gets the same versions.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import prover
from prover.results import Versions

logger = logging.getLogger(__name__)

TOOLCHAIN_FILE = "lean-toolchain"
MANIFEST_FILE = "lake-manifest.json"
LAKEFILES = ("lakefile.lean", "lakefile.toml")
MATHLIB = "mathlib"
REPL = "REPL"

# lakefile.lean: `require NAME from git "URL" @ "REV"`, or Reservoir's `require "SCOPE" / "NAME" @ git "REV"`;
# the `@ …` part is optional.
_LEAN_REQUIRE = re.compile(
    r'^\s*require\s+(?:[«"]?(?P<name>[\w.\-]+)[»"]?\s+from\s+git\s+"[^"]*"(?:\s*@\s*"(?P<rev>[^"]*)")?'
    r'|"[^"]*"\s*/\s*"(?P<rname>[^"]+)"(?:\s*@\s*(?:git\s+)?"(?P<rrev>[^"]*)")?)',
    re.M,
)
_TOML_REQUIRE = re.compile(r"^\s*\[\[require\]\]\s*$", re.M)
_TOML_FIELD = re.compile(r'^\s*(?P<key>name|rev)\s*=\s*"(?P<value>[^"]*)"', re.M)
_VERSION_TAG = re.compile(r"^v\d")
_SHA = re.compile(r"^[0-9a-f]{40}$")


def lean_version(project_dir: Path) -> str:
    """The toolchain's version from `lean-toolchain`: `v4.24.0` for `leanprover/lean4:v4.24.0`.

    Another toolchain (a nightly, a fork) is returned whole, so that it never collides with a release. Empty
    when the file is missing.
    """
    try:
        toolchain = (project_dir / TOOLCHAIN_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    return toolchain.removeprefix("leanprover/lean4:")


def mathlib_rev(project_dir: Path) -> str:
    """Mathlib's revision (the proof cache's key uses it): see `package_rev`."""
    return package_rev(project_dir, MATHLIB)


def repl_rev(project_dir: Path) -> str:
    return package_rev(project_dir, REPL)


def package_rev(project_dir: Path, name: str) -> str:
    """The revision of a `require`d package: a version tag when it is pinned to one, else the commit.

    From `lake-manifest.json` (what lake actually checked out) when present, else from the lakefile's pin. A
    version tag (`v4.24.0`) is used in both cases, so writing the manifest does not change the value; a branch
    pin (`master`) gives the manifest's commit, since the branch moves. Empty when the package is unknown.
    """
    return _package_revs(project_dir, name)[0]


def _package_revs(project_dir: Path, *names: str) -> list[str]:
    """`package_rev` of several packages, reading the manifest (and the lakefile, if needed) once."""
    packages = _manifest_packages(project_dir)
    pins: dict[str, str] | None = None
    revs = []
    for name in names:
        entry = packages.get(name.lower())
        if entry is not None:
            input_rev = str(entry.get("inputRev") or "")
            rev = str(entry.get("rev") or "")
            revs.append(input_rev if _VERSION_TAG.match(input_rev) or not rev else rev)
            continue
        if pins is None:
            pins = lakefile_pins(project_dir)
        revs.append(pins.get(name.lower(), ""))
    return revs


def _manifest_packages(project_dir: Path) -> dict[str, dict[str, object]]:
    """The manifest's packages by lower-cased name ({} when there is no readable manifest)."""
    path = project_dir / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable %s: %s", path, exc)
        return {}
    packages = data.get("packages", []) if isinstance(data, dict) else []
    return {str(p["name"]).lower(): p for p in packages if isinstance(p, dict) and "name" in p}


def lakefile_pins(project_dir: Path) -> dict[str, str]:
    """`{lower-cased package name: pinned rev}` from `lakefile.lean` (or `lakefile.toml`); '' for no pin."""
    for name in LAKEFILES:
        try:
            text = (project_dir / name).read_text(encoding="utf-8")
        except OSError:
            continue
        if name.endswith(".lean"):
            return {(m["name"] or m["rname"]).lower(): m["rev"] or m["rrev"] or "" for m in _LEAN_REQUIRE.finditer(text)}
        return _toml_pins(text)
    return {}


def _toml_pins(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    blocks = _TOML_REQUIRE.split(text)[1:]
    for block in blocks:
        block = re.split(r"^\s*\[", block, maxsplit=1, flags=re.M)[0]  # up to the next table
        fields = {m["key"]: m["value"] for m in _TOML_FIELD.finditer(block)}
        if "name" in fields:
            pins[fields["name"].lower()] = fields.get("rev", "")
    return pins


def git_hash(repo_dir: Path) -> str:
    """The commit checked out in `repo_dir`, read from its `.git` files ('' when it is not a git checkout).

    Handles a `.git` folder or a `.git` file (worktrees, submodules), a branch HEAD (loose or packed ref) and a
    detached HEAD.
    """
    git_dir = _git_dir(repo_dir)
    if git_dir is None:
        return ""
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    except OSError:
        return ""
    if not head.startswith("ref:"):
        return head if _SHA.match(head) else ""
    ref = head[len("ref:") :].strip()
    common = _common_dir(git_dir)
    for base in dict.fromkeys((git_dir, common)):
        try:
            value = (base / ref).read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if _SHA.match(value):
            return value
    try:
        packed = (common / "packed-refs").read_text(encoding="utf-8")
    except OSError:
        return ""
    for line in packed.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == ref and _SHA.match(parts[0]):
            return parts[0]
    return ""


def _git_dir(repo_dir: Path) -> Path | None:
    dot_git = repo_dir / ".git"
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():
        try:
            line = dot_git.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        if line.startswith("gitdir:"):
            path = Path(line[len("gitdir:") :].strip())
            return path if path.is_absolute() else (repo_dir / path).resolve()
    return None


def _common_dir(git_dir: Path) -> Path:
    """Where shared refs live: `commondir` points there from a worktree's git dir."""
    try:
        rel = (git_dir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        return git_dir
    path = Path(rel)
    return path if path.is_absolute() else (git_dir / path).resolve()


def package_checkout() -> Path:
    """The folder this package runs from (a git checkout in development, site-packages when installed)."""
    return Path(prover.__file__).resolve().parent.parent


def read_versions(project_dir: Path) -> Versions:
    """Everything a result depends on: package, git hash of the code that ran, Lean, Mathlib, REPL."""
    mathlib, repl = _package_revs(project_dir, MATHLIB, REPL)
    return Versions(
        prover=prover.__version__,
        git_hash=git_hash(package_checkout()),
        lean=lean_version(project_dir),
        mathlib=mathlib,
        repl=repl,
    )
