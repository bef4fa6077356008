"""Atomic writes: a reader never sees a half-written file, a crash never leaves one.

Each write goes to a temporary file in the same folder, is flushed to disk, then
renamed over the target (``os.replace`` is atomic on POSIX and Windows).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import secrets
from pathlib import Path
from typing import Any

import pandas as pd

from radscore.errors import OutputError


def _temp_file(folder: Path, name: str) -> tuple[int, str]:
    """A new named temporary file in ``folder`` (a seam for tests of unwritable disks).

    Created with mode 0o666 less the umask, as ``open`` creates any file, because the
    rename keeps the mode: ``tempfile.mkstemp`` makes 0o600 files, which left every output
    unreadable to the user's group whatever their umask.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), str(tmp)
        except FileExistsError:  # another writer drew the same name: draw again
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(folder))


def atomic_write_bytes(path: str | Path, data: bytes, *, tmp_dir: str | Path | None = None) -> Path:
    """Write ``data`` to ``path`` atomically; a clear :class:`OutputError` if the disk refuses.

    Parameters
    ----------
    tmp_dir : path, optional
        Where the temporary file is written (same file system as ``path``; default its
        folder). The result cache keeps them outside its own folder, so a writer killed
        mid-write leaves no stray file among the entries.
    """
    path = Path(path)
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tmp_dir) if tmp_dir is not None else path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = _temp_file(folder, path.name)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        reason = {
            errno.ENOSPC: "the disk is full",
            errno.EROFS: "the file system is read-only",
            errno.EACCES: "permission denied",
            errno.EDQUOT: "the disk quota is exceeded",
        }.get(exc.errno, exc.strerror or str(exc))
        raise OutputError(
            f"cannot write output ({reason}).", file=str(path),
            fix="free space or choose a writable output folder.",
        ) from None
    finally:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return path


def atomic_write_text(path: str | Path, text: str, **kwargs: Any) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), **kwargs)


def atomic_write_json(path: str | Path, obj: Any, **kwargs: Any) -> Path:
    """Deterministic JSON (sorted keys, fixed indentation)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n", **kwargs)


def atomic_write_parquet(path: str | Path, df: pd.DataFrame, *, metadata: dict[str, str] | None = None,
                         **kwargs: Any) -> Path:
    """Parquet without pandas' wall-clock metadata, so equal tables give equal bytes.

    ``metadata`` adds key/value pairs to the file's schema metadata (e.g. the provenance),
    readable with ``pyarrow.parquet.read_schema(path).metadata``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               **{k.encode(): v.encode() for k, v in metadata.items()}})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return atomic_write_bytes(path, buf.getvalue(), **kwargs)


def atomic_write_csv(path: str | Path, df: pd.DataFrame, **kwargs: Any) -> Path:
    kwargs.setdefault("index", False)
    kwargs.setdefault("float_format", "%.10g")
    return atomic_write_text(path, df.to_csv(lineterminator="\n", **kwargs))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npz_bytes(arrays: dict[str, Any]) -> bytes:
    """Named numpy arrays as ``.npz`` bytes that depend on the arrays only.

    ``numpy.savez`` stamps every member with the current time, so equal arrays saved twice
    differ; a model artifact's files must be equal bytes for equal models (their hashes are
    its identity). Members are ``<name>.npy`` in the given order, uncompressed, dated
    1980-01-01 (the ZIP epoch); ``numpy.load(..., allow_pickle=False)`` reads them.
    """
    import zipfile

    import numpy as np

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, value in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(value), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), member.getvalue())
    return buf.getvalue()


def json_default(obj: Any) -> Any:
    """numpy scalars and arrays, and paths, as JSON values (the `default` of json.dumps)."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def ensure_writable(folder: str | Path) -> Path:
    """Fail fast with :class:`OutputError` when ``folder`` cannot take new files.

    Called before hours of work start, so a read-only or full output folder is found at
    once rather than at the first write; the probe goes through :func:`atomic_write_bytes`
    and is removed again.
    """
    folder = Path(folder)
    probe = atomic_write_bytes(folder / f".radscore-write-test-{os.getpid()}", b"ok")
    probe.unlink(missing_ok=True)
    return folder
