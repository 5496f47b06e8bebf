"""Reading what the stores wrote: JSON Lines parts, plain or gzip, on a local path or an ObjectStoragePath."""

from __future__ import annotations

import fnmatch
import gzip
import json
from typing import Any


def read_jsonl_parts(directory: Any, pattern: str = "part-*.jsonl*") -> list[Any]:
    """Every record of the part files in ``directory`` whose name matches ``pattern``, parts in name order.

    ``directory`` is a :class:`pathlib.Path` or an ``ObjectStoragePath`` (anything with ``iterdir()`` whose
    children have ``name`` and ``read_bytes()``); ``.gz`` parts are decompressed.
    """
    records: list[Any] = []
    for child in sorted(directory.iterdir(), key=lambda p: p.name):
        if not fnmatch.fnmatchcase(child.name, pattern):
            continue
        data = child.read_bytes()
        if child.name.endswith(".gz"):
            data = gzip.decompress(data)
        records += [json.loads(line) for line in data.decode().splitlines() if line]
    return records
