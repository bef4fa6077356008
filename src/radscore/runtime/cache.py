"""A content-addressed result cache, so finished work is never recomputed.

An entry is one file named by its key (a hash of the inputs' content and the settings
that produced it). Entries are written atomically, so an interrupted run leaves either a
complete entry or none; a rerun finds the complete ones and computes only the rest.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

from radscore.runtime.files import atomic_write_bytes, json_default


def make_key(*parts: Any) -> str:
    """A stable key from JSON-able parts (hashes, settings dicts, names)."""
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class ResultCache:
    """Folder of finished results keyed by :func:`make_key`.

    Parameters
    ----------
    root : path
        The cache folder (created on first write).
    """

    def __init__(self, root: str | Path, *, sweep_after_s: float = 3600.0) -> None:
        self.root = Path(root)
        # Temporary files are written beside the cache, not in it: a writer killed mid-write
        # leaves nothing among the entries (same file system, so the final rename is atomic).
        self.tmp_dir = self.root.parent / f".{self.root.name}.tmp"
        self._sweep(sweep_after_s)

    def _sweep(self, older_than_s: float) -> None:
        """Delete temporary files killed writers left behind (they are never read as entries).

        Only old ones: a temporary file younger than ``older_than_s`` may belong to a
        writer that is still running.
        """
        now = time.time()
        leftovers = list(self.tmp_dir.glob("*.tmp")) if self.tmp_dir.is_dir() else []
        if self.root.is_dir():
            leftovers += list(self.root.glob("*/.*.tmp"))  # written by older versions
        for tmp in leftovers:
            try:
                if now - tmp.stat().st_mtime > older_than_s:
                    tmp.unlink()
            except OSError:
                pass

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def has(self, key: str) -> bool:
        return any(self._path(key, suffix).exists() for suffix in (".json", ".npz"))

    def get_arrays(self, key: str) -> dict[str, Any] | None:
        """Named numpy arrays stored by :meth:`put_arrays`, or None."""
        import numpy as np

        path = self._path(key, ".npz")
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:  # no pickle: arrays only
                return {k: data[k] for k in data.files}
        except Exception:  # a foreign or damaged file: recompute rather than trust it
            path.unlink(missing_ok=True)
            return None

    def put_arrays(self, key: str, arrays: dict[str, Any]) -> None:
        import numpy as np

        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self._path(key, ".npz"), buf.getvalue(), tmp_dir=self.tmp_dir)

    def get_json(self, key: str) -> Any | None:
        path = self._path(key, ".json")
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            return None

    def put_json(self, key: str, obj: Any) -> None:
        # compact, so that json's C encoder writes it (indented output takes its pure-Python one:
        # 7 % of an extraction's time, one entry per image part and VOI); only radscore reads it
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=json_default)
        atomic_write_bytes(self._path(key, ".json"), text.encode("utf-8"), tmp_dir=self.tmp_dir)
