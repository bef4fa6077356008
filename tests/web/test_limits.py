"""The page's limits against a real uvicorn server: bytes per request, temporary disk, admission,
who decides to keep uploads, server paths in responses, malformed zips (issue 18 item 1).

The server runs in a thread of this process with ``tempfile.tempdir`` pointed at a test
folder, so every byte the server puts on the temporary disk, including files it has
already unlinked but still holds open (Starlette's spooled uploads), is measured by
:class:`_DiskSampler`.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import struct
import threading
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from radscore.web import ServerSettings, create_app

pytestmark = pytest.mark.slow

MB = 1 << 20
BOUNDARY = "radscoreTestBoundary"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _server(model: Path, settings: ServerSettings):
    import uvicorn

    app = create_app(model, settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class _DiskSampler:
    """Peak bytes the process holds under ``root``: files in it plus open, already deleted ones."""

    def __init__(self, root: Path):
        self.root = str(root)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def usage(self) -> int:
        total = 0
        for dirpath, _, names in os.walk(self.root):
            for n in names:
                with contextlib.suppress(OSError):
                    total += os.stat(os.path.join(dirpath, n)).st_size
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.startswith(self.root) and target.endswith("(deleted)"):
                    total += os.fstat(int(fd)).st_size
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.usage())
            time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.usage())


def _part(name: str, filename: str | None = None) -> bytes:
    disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return f"--{BOUNDARY}\r\nContent-Disposition: {disp}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()


def _multipart(files: dict[str, tuple[str, bytes]], fields: dict[str, str] | None = None) -> bytes:
    body = b""
    for name, value in (fields or {}).items():
        body += _part(name) + value.encode() + b"\r\n"
    for name, (filename, data) in files.items():
        body += _part(name, filename) + data + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


CTYPE = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture(scope="module")
def model(small_study) -> Path:
    return small_study / "models" / "comb"


@pytest.fixture
def tmp_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "server-tmp"
    root.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(root))  # the server's upload folders and spools land here
    return root


def _upload(study: Path, scan_files, pid: str = "P0003") -> dict[str, tuple[str, bytes]]:
    return {k: (p.name, p.read_bytes()) for k, p in scan_files(study, pid).items()}


def test_chunked_upload_is_stopped_at_the_limit(model, tmp_root):
    """A 300 MB chunked request (no Content-Length) to a 4 MB limit: 413 while streaming, disk bounded."""
    total = 300 * MB
    sent = [0]

    def body():
        head = _part("ct", "ct.nii")
        sent[0] += len(head)
        yield head
        block = b"\0" * MB
        for _ in range(total // MB):
            sent[0] += MB
            yield block
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    settings = ServerSettings(max_upload_mb=300, max_request_mb=4, max_temp_mb=64)
    with _server(model, settings) as (url, app), _DiskSampler(tmp_root) as disk:
        r = httpx.post(url + "/api/predict", content=body(), headers=CTYPE, timeout=120)
    assert r.status_code == 413, r.text
    assert "larger than the limit of 4 MB" in r.json()["error"]
    # the server stopped reading at 4 MB: only what socket buffers absorb is sent after that
    assert sent[0] < 64 * MB, f"{sent[0] / MB:.0f} MB sent before the refusal"
    assert disk.peak <= 4 * MB + MB, f"temporary disk peaked at {disk.peak / MB:.1f} MB"
    assert list(tmp_root.iterdir()) == [] and app.state.budget.used == 0
    print(f"chunked 300 MB to a 4 MB limit: {sent[0] / MB:.1f} MB sent, temp disk peak {disk.peak / MB:.2f} MB")


@pytest.mark.parametrize("case", ["per_file", "temp_budget"])
def test_file_and_disk_limits_give_413(model, tmp_root, case):
    """Limits other than the request's: one file over --max-upload-mb; the shared temp-disk budget."""
    settings = (ServerSettings(max_upload_mb=2, max_request_mb=16) if case == "per_file"
                else ServerSettings(max_upload_mb=8, max_request_mb=16, max_temp_mb=1))
    body = _multipart({"ct": ("ct.nii", b"\0" * (3 * MB))})
    with _server(model, settings) as (url, app), _DiskSampler(tmp_root) as disk:
        r = httpx.post(url + "/api/predict", content=iter([body]), headers=CTYPE, timeout=60)
    assert r.status_code == 413, r.text
    expect = "larger than the limit of 2 MB per file" if case == "per_file" else "temporary storage"
    assert expect in r.json()["error"]
    assert disk.peak <= (2 if case == "per_file" else 1) * MB + MB
    assert list(tmp_root.iterdir()) == [] and app.state.budget.used == 0


def test_upload_and_scoring_share_one_admission_limit(model, tmp_root):
    """With one slot and no queue, a second request is refused (503) while the first is still uploading."""
    release = threading.Event()

    def slow_body():
        yield _part("ct", "ct.nii")
        release.wait(30)  # the first request holds its slot mid-upload
        yield b"x" * 10 + f"\r\n--{BOUNDARY}--\r\n".encode()

    settings = ServerSettings(max_concurrent=1, max_waiting=0)
    with _server(model, settings) as (url, _), httpx.Client(timeout=60) as first_client:
        first = threading.Thread(target=lambda: first_client.post(url + "/api/predict", content=slow_body(),
                                                                  headers=CTYPE))
        first.start()
        time.sleep(1.0)
        second = httpx.post(url + "/api/predict", content=_multipart({}, {"patient_id": "x"}), headers=CTYPE,
                            timeout=30)
        release.set()
        first.join(30)
    assert second.status_code == 503, second.text
    assert "busy" in second.json()["error"] and second.headers["retry-after"]


def test_keep_is_the_servers_decision_and_no_path_is_returned(model, small_study, scan_files, tmp_root, tmp_path):
    """A client's keep=true stores nothing; a server with --keep-dir keeps each upload without naming where."""
    files = _upload(small_study, scan_files)
    with _server(model, ServerSettings()) as (url, _):
        r = httpx.post(url + "/api/predict", files=files, data={"keep": "true"}, timeout=300)
    assert r.status_code == 200, r.text
    assert r.json()["kept"] is False
    assert list(tmp_root.iterdir()) == []  # nothing kept anywhere under the server's temp folder
    keep = tmp_path / "kept"
    with _server(model, ServerSettings(keep_dir=keep)) as (url, _):
        r = httpx.post(url + "/api/predict", files=files, timeout=300)
    assert r.status_code == 200, r.text
    assert r.json()["kept"] is True
    (kept,) = keep.iterdir()
    assert (kept / "baseline" / "ct.nii.gz").is_file()
    for root in (keep, tmp_root, model, tmp_path):
        assert str(root) not in r.text


def _dicom_like(tag: bytes) -> bytes:
    return b"\0" * 128 + b"DICM" + tag * 64  # passes the DICM check, not a readable DICOM


def _zip(entries: list[tuple[str, bytes]], compression=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries:
            with warnings_off():
                z.writestr(name, data)
    return buf.getvalue()


@contextlib.contextmanager
def warnings_off():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we write on purpose
        yield


def _overlapping_zip() -> bytes:
    """Two directory entries whose data is the same bytes (the second points at the first's header)."""
    data = bytearray(_zip([("s/1.dcm", _dicom_like(b"a")), ("s/2.dcm", _dicom_like(b"b"))]))
    cd = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)  # the second central directory entry
    data[cd + 42:cd + 46] = struct.pack("<I", 0)  # its local header offset
    return bytes(data)


def _bad_crc_zip() -> bytes:
    data = bytearray(_zip([("s/1.dcm", _dicom_like(b"a"))]))
    data[30 + len("s/1.dcm") + 150] ^= 0xFF  # a byte of the stored data: the CRC no longer matches
    return bytes(data)


@pytest.mark.parametrize("case, expect", [
    ("duplicate", "twice (duplicate names)"),
    ("overlap", "overlap"),
    ("bad_crc", "is damaged"),
])
def test_malformed_zip_is_a_400(model, small_study, scan_files, tmp_root, case, expect):
    archive = {"duplicate": lambda: _zip([("s/1.dcm", _dicom_like(b"a")), ("s/1.dcm", _dicom_like(b"b"))]),
               "overlap": _overlapping_zip, "bad_crc": _bad_crc_zip}[case]()
    files = _upload(small_study, scan_files)
    files["ct"] = ("ct.zip", archive)
    with _server(model, ServerSettings()) as (url, _):
        r = httpx.post(url + "/api/predict", files=files, timeout=120)
    assert r.status_code == 400, r.text
    assert expect in r.json()["error"]
    assert list(tmp_root.iterdir()) == []


def test_errors_name_no_server_path(model, small_study, scan_files, tmp_root):
    """A loader's error about an upload names the upload, not the server folder it was written to."""
    files = _upload(small_study, scan_files)
    files["ct"] = ("ct.zip", _zip([("series/1.dcm", _dicom_like(b"a"))]))  # a DICOM no reader accepts
    with _server(model, ServerSettings()) as (url, _):
        r = httpx.post(url + "/api/predict", files=files, timeout=120)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert str(tmp_root) not in error and "radscore-upload-" not in error, error
    assert str(model) not in error


def test_client_leaving_mid_upload_leaves_nothing(model, tmp_root):
    """A client that drops the connection mid-body: partial files deleted, disk budget returned."""
    with _server(model, ServerSettings()) as (url, app):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(f"POST /api/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      f"Content-Type: {CTYPE['Content-Type']}\r\n\r\n".encode())
            chunk = _part("ct", "ct.nii") + b"\0" * MB
            s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            deadline = time.monotonic() + 10
            while app.state.budget.used == 0 and time.monotonic() < deadline:
                time.sleep(0.02)  # until the server has the part on disk
            assert app.state.budget.used > 0
        deadline = time.monotonic() + 10
        while (app.state.budget.used or list(tmp_root.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.budget.used == 0 and list(tmp_root.iterdir()) == []
