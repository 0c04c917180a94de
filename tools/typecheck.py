"""`mypy --strict` over the package, the build tools, the benchmarks and every test tier.

Test modules import their helpers the way pytest's prepend import mode makes possible: as
top-level modules from their own directory (`from fakes import ...`, `from drill_support
import ...`). mypy names files without packages by their stem, so it cannot check two
`conftest.py` in one run. This runs it once for the code and once per test directory that has
a `conftest.py` (with the files below it that no deeper `conftest.py` claims), with the
directories pytest would put on `sys.path` on `MYPYPATH`.

    python -m tools.typecheck        # exit 0 when every run is clean
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def _groups() -> dict[Path, list[Path]]:
    """Each test directory with a conftest.py → the Python files it claims."""
    owners = sorted((p.parent for p in TESTS.rglob("conftest.py")), key=lambda p: -len(p.parts))
    groups: dict[Path, list[Path]] = {owner: [] for owner in owners}
    for path in sorted(TESTS.rglob("*.py")):
        owner = next(o for o in owners if path.is_relative_to(o))
        groups[owner].append(path)
    return groups


def _mypy(files: list[Path], path: list[Path]) -> int:
    env = dict(os.environ, MYPYPATH=os.pathsep.join(str(p) for p in path))
    command = [sys.executable, "-m", "mypy", "--strict", *(str(f.relative_to(ROOT)) for f in files)]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode  # noqa: S603


def main() -> int:
    failed = _mypy([ROOT / "poller", ROOT / "tools", ROOT / "bench"], [TESTS])
    helper_dirs = sorted({p.parent for p in TESTS.rglob("*.py") if p.parent.name != "fakes"})
    for owner, files in _groups().items():
        # The owner's own directory first, as pytest puts it first on sys.path.
        others = (d for d in helper_dirs if d != owner and not (d / "conftest.py").exists())
        search = [owner, TESTS, *others]
        failed |= _mypy(files, search)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
