"""Shared by the page's server tests: hand-built multipart bodies, hostile uploads, a temp-disk sampler.

The hostile builders return bytes a client could send; which answer each must get is
asserted by the tests that send them (tests/web/test_limits.py one at a time,
tests/web/test_soak.py mixed under load).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import socket
import struct
import threading
import time
import warnings
import zipfile
from pathlib import Path

MB = 1 << 20
BOUNDARY = "radscoreTestBoundary"
CTYPE = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def part(name: str, filename: str | None = None) -> bytes:
    """The boundary and headers opening one form part (a file part when ``filename`` is given)."""
    disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disp}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()


def multipart(files: dict[str, tuple[str, bytes]], fields: dict[str, str] | None = None) -> bytes:
    """A whole ``multipart/form-data`` body (send with :data:`CTYPE`)."""
    body = b""
    for name, value in (fields or {}).items():
        body += part(name) + value.encode() + b"\r\n"
    for name, (filename, data) in files.items():
        body += part(name, filename) + data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


def dicom_like(tag: bytes) -> bytes:
    return b"\0" * 128 + b"DICM" + tag * 64  # passes the DICM check, not a readable DICOM


def make_zip(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name written on purpose
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def duplicate_zip() -> bytes:
    return make_zip([("s/1.dcm", dicom_like(b"a")), ("s/1.dcm", dicom_like(b"b"))])


def overlapping_zip() -> bytes:
    """Two directory entries whose data is the same bytes (the second points at the first's header)."""
    data = bytearray(make_zip([("s/1.dcm", dicom_like(b"a")), ("s/2.dcm", dicom_like(b"b"))]))
    cd = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)  # the second central directory entry
    data[cd + 42:cd + 46] = struct.pack("<I", 0)  # its local header offset
    return bytes(data)


def bad_crc_zip() -> bytes:
    data = bytearray(make_zip([("s/1.dcm", dicom_like(b"a"))]))
    data[30 + len("s/1.dcm") + 150] ^= 0xFF  # a byte of the stored data: the CRC no longer matches
    return bytes(data)


def traversal_zip() -> bytes:
    return make_zip([("s/1.dcm", dicom_like(b"a")), ("../../escape.dcm", dicom_like(b"b"))])


def zip_bomb(expanded_mb: int = 64) -> bytes:
    """A DICOM-looking entry of ``expanded_mb`` MB of zeros, deflated to about a thousandth of that."""
    return make_zip([("s/1.dcm", dicom_like(b"a") + bytes(expanded_mb * MB))], zipfile.ZIP_DEFLATED)


def truncated_nifti(nii_gz: bytes, cut: int = 4096) -> bytes:
    """A .nii.gz whose gzip stream is intact but whose voxel data ends ``cut`` bytes early."""
    raw = gzip.decompress(nii_gz)
    return gzip.compress(raw[:len(raw) - cut])


class DiskSampler:
    """Bytes a process holds under ``root``: files in it plus files it has deleted but keeps open.

    Used as a context manager it samples in a thread every ``interval`` seconds and keeps
    the peak. ``pid`` is the server's process (default: this one, for a server in a thread).
    """

    def __init__(self, root: Path, pid: int | None = None, interval: float = 0.01):
        self.root = str(root)
        self.pid = pid or os.getpid()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def files(self) -> list[Path]:
        return sorted(p for p in Path(self.root).rglob("*"))

    def usage(self) -> int:
        total = 0
        for dirpath, _, names in os.walk(self.root):
            for n in names:
                with contextlib.suppress(OSError):
                    total += os.stat(os.path.join(dirpath, n)).st_size
        with contextlib.suppress(OSError):  # the process may have ended
            for fd in os.listdir(f"/proc/{self.pid}/fd"):
                with contextlib.suppress(OSError):
                    link = f"/proc/{self.pid}/fd/{fd}"
                    target = os.readlink(link)
                    if target.startswith(self.root) and target.endswith("(deleted)"):
                        total += os.stat(link).st_size
        return total

    def sample(self) -> int:
        used = self.usage()
        self.peak = max(self.peak, used)
        return used

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
