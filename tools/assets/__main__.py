"""`python -m tools.assets [--check]`: regenerate (or, with --check, compare) every asset file.

Exit codes: 0 done (or no drift), 1 drift found by --check, 2 usage error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tools.assets import drift, generate

REPO = Path(__file__).resolve().parents[2]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args not in ([], ["--check"]):
        sys.stderr.write("usage: python -m tools.assets [--check]\n")
        return 2
    if args:
        found = drift(REPO)
        for rel in found:
            sys.stdout.write(f"out of date: {rel}\n")
        return 1 if found else 0
    for path in generate(REPO):
        sys.stdout.write(f"wrote {path.relative_to(REPO)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
