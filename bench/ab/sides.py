"""The two sides of an A/B: a git ref checked out in a worktree of its own (A) and the working tree (B).

The ref's worktree is build/ab/<short-sha>/ (ignored by git), made with `git worktree add --detach` and
reused while it is still at that commit and clean; the working tree itself is never touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stack import EngineCode, clean_env


class AbError(Exception):
    """Why an A/B cannot run (no such ref, no worktree): the message is for the user."""


@dataclass(frozen=True)
class Side:
    label: str  # "A" (the ref) or "B" (the working tree)
    ref: str  # what the user named, or "working tree"
    sha: str
    subject: str
    dirty: bool  # B only: the working tree has changes git sees (staged, unstaged, untracked)
    code: EngineCode

    def describe(self, root: Path) -> dict[str, Any]:
        where = self.code.root.relative_to(root) if self.code.root.is_relative_to(root) else self.code.root
        return {
            "ref": self.ref,
            "sha": self.sha,
            "subject": self.subject,
            "dirty": self.dirty,
            "root": str(where),
            "env": dict(self.code.settings),
        }


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def resolve(root: Path, ref: str) -> str:
    """The full sha of the commit `ref` names, or AbError."""
    if not ref or ref.startswith("-"):
        raise AbError(f"{ref!r} is not a git ref")
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode or not done.stdout.strip():
        raise AbError(f"git ref {ref!r} does not exist in {root} (or names no commit)")
    return done.stdout.strip()


def subject(root: Path, sha: str) -> str:
    return _git(root, "log", "-1", "--format=%s", sha).stdout.strip()


def worktree(root: Path, sha: str) -> Path:
    """build/ab/<short-sha>/ at commit `sha`: reused if it is there and clean, else made; AbError if not."""
    short = _git(root, "rev-parse", "--short", sha).stdout.strip() or sha[:12]
    path = root / "build" / "ab" / short
    rel = path.relative_to(root)
    if path.exists():
        if not path.is_dir():
            raise AbError(f"{rel} exists but is not a git worktree; remove it and run again")
        top = _git(path, "rev-parse", "--show-toplevel")
        if top.returncode or Path(top.stdout.strip()).resolve() != path.resolve():
            raise AbError(f"{rel} exists but is not a git worktree; remove it and run again")
        if _git(path, "status", "--porcelain", "--untracked-files=no").stdout.strip():
            raise AbError(f"{rel} has local changes; remove it (git worktree remove --force {rel}) and run again")
        if _git(path, "rev-parse", "HEAD").stdout.strip() != sha:
            moved = _git(path, "checkout", "--quiet", "--detach", sha)
            if moved.returncode:
                raise AbError(f"could not check out {short} in {rel}: {moved.stderr.strip()}")
        return path
    _git(root, "worktree", "prune")  # forget worktrees whose directory was deleted
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AbError(f"could not make the worktree {rel}: {exc}") from exc
    made = _git(root, "worktree", "add", "--detach", "--quiet", str(path), sha)
    if made.returncode:
        raise AbError(f"could not make the worktree {rel} of {short}: {made.stderr.strip()}")
    return path


def ref_side(root: Path, ref: str, settings: dict[str, str] | None = None) -> Side:
    """A: `ref` in its worktree, its processes run with `settings` on top of the bench's (`--a-env`)."""
    sha = resolve(root, ref)
    code = EngineCode(worktree(root, sha), tuple(sorted((settings or {}).items())))
    return Side("A", ref, sha, subject(root, sha), False, code)


def env_settings(pairs: list[str] | None) -> dict[str, str]:
    """`KEY=VALUE` strings (`--a-env ORDER_ENGINE_METRICS=false`) as a mapping; AbError for one without `=`."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise AbError(f"--a-env takes KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def working_tree_side(root: Path) -> Side:
    sha = resolve(root, "HEAD")
    dirty = bool(_git(root, "status", "--porcelain").stdout.strip())
    return Side("B", "working tree", sha, subject(root, sha), dirty, EngineCode(root))


_WHERE = """
import json, importlib.util as u
specs = {m: u.find_spec(m) for m in ("order_engine", "bench")}
print(json.dumps({m: s.origin if s else None for m, s in specs.items()}))
"""


def imports(side: Side) -> dict[str, str | None]:
    """Where that side's processes find `order_engine` and `bench`; AbError unless the engine is the side's."""
    done = side.code.python(["-c", _WHERE], clean_env(), capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise AbError(f"side {side.label}: {sys.executable} cannot look up its modules: {done.stderr[-500:]}")
    found = json.loads(done.stdout)
    engine = found.get("order_engine")
    if not engine or not Path(engine).resolve().is_relative_to((side.code.root / "src").resolve()):
        raise AbError(f"side {side.label} would import order_engine from {engine}, not from {side.code.root}/src")
    return found
