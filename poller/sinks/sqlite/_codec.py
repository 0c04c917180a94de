"""How the embedded store keeps a document small: its id as 16 bytes, its source deflated with a
preset dictionary drawn from its own data stream.

A usage document is ~1 KB of JSON that differs from its neighbours in a few numbers and ids;
deflated alone it keeps half its size, deflated against a dictionary made of earlier documents of
its data stream it keeps a tenth. zlib (the standard library) takes a preset dictionary of up to
32 KiB; documents name the dictionary they were deflated with, so a newer dictionary never
invalidates an older document.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["DICTIONARY_BYTES", "Dictionary", "decode_id", "encode_id", "inflate", "train"]

DICTIONARY_BYTES = 32 * 1024  # zlib's window: a longer dictionary is not looked at
_HEX_ID = re.compile(r"[0-9a-f]{32}")
_LEVEL = 6
_WBITS = -15  # raw deflate: no header or checksum (SQLite pages carry their own)
_MEMLEVEL = 8


def encode_id(doc_id: str) -> bytes | str:
    """A 32-hex id (what the document mappers make) as its 16 bytes; any other id unchanged.
    Bytes and text never compare equal in SQLite, so the two kinds cannot collide."""
    return bytes.fromhex(doc_id) if _HEX_ID.fullmatch(doc_id) else doc_id


def decode_id(stored: bytes | str) -> str:
    return stored.hex() if isinstance(stored, bytes) else stored


def train(texts: Sequence[bytes]) -> bytes:
    """A preset dictionary of whole documents picked evenly through `texts`, at most
    `DICTIONARY_BYTES` long: what the next documents of the stream will repeat."""
    if not texts:
        return b""
    longest = max(1, *map(len, texts))
    fitting = max(1, min(len(texts), DICTIONARY_BYTES // longest))
    step = len(texts) / fitting
    picked = [texts[int(i * step)] for i in range(fitting)]
    return b"".join(picked)[-DICTIONARY_BYTES:]


@dataclass
class Dictionary:
    """One stored dictionary (`id`, `content`); deflates through a compressor primed once."""

    id: int
    content: bytes
    _primed: zlib._Compress | None = field(default=None, repr=False)

    def deflate(self, text: bytes) -> bytes:
        if self._primed is None:
            self._primed = zlib.compressobj(
                _LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL, zlib.Z_DEFAULT_STRATEGY, self.content
            )
        compressor = self._primed.copy()
        return compressor.compress(text) + compressor.flush()


def inflate(body: bytes, dictionary: bytes) -> bytes:
    inflater = zlib.decompressobj(_WBITS, zdict=dictionary)
    return inflater.decompress(body) + inflater.flush()
