"""`tools` (the asset generator and lint, `tools/assets/`) belongs to the source checkout, not to
the installed distribution, so nothing puts it on `sys.path`: do it here, as pytest's own prepend
import mode does for a conftest's directory, so these tests import it the way
`python -m tools.assets` does from the checkout's root. (mypy needs nothing: it always searches
the directory it runs in.)"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[3])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
