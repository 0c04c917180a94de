"""The official OpenAPI subset the tests check shapes against, kept in `tests/fixtures/openapi/`.

The spec lists every `GET /organization/*` path, and the simulator serves each of them.
"""

from __future__ import annotations

from pathlib import Path

SPEC_PATH = Path(__file__).resolve().parent / "fixtures" / "openapi" / "openapi.subset.json"
