"""Reproducible randomness: every generator is seeded from a stable digest of what it is for.

Python's `hash()` is salted per process, so seeds come from BLAKE2b over the `repr` of plain
ints and strings instead; the same parts give the same stream of numbers everywhere.
"""

from __future__ import annotations

import hashlib
import random
import string
from typing import Final

__all__ = ["make_rng", "random_token", "stable_int"]

_ALPHANUMERIC: Final = string.ascii_letters + string.digits


def stable_int(*parts: int | str) -> int:
    """A 64-bit integer that depends only on `parts`."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def make_rng(*parts: int | str) -> random.Random:
    """A generator for one purpose, e.g. `make_rng(seed, "completions", day)`."""
    return random.Random(stable_int(*parts))


def random_token(rng: random.Random, length: int, alphabet: str = _ALPHANUMERIC) -> str:
    """An id-like string, e.g. the `AbC123…` in `proj_AbC123…`."""
    return "".join(rng.choices(alphabet, k=length))
