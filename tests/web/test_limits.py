"""The page's limits against a real uvicorn server: bytes per request, temporary disk, admission,
who decides to keep uploads, server paths in responses, malformed zips (issue 18 item 1).

The server runs in a thread of this process with ``tempfile.tempdir`` pointed at a test
folder, so every byte the server puts on the temporary disk, including files it has
already unlinked but still holds open (Starlette's spooled uploads), is measured by
:class:`web_helpers.DiskSampler`.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from web_helpers import (
    BOUNDARY,
    CTYPE,
    MB,
    DiskSampler,
    bad_crc_zip,
    dicom_like,
    duplicate_zip,
    free_port,
    make_zip,
    multipart,
    overlapping_zip,
    part,
)

from radscore.web import ServerSettings, create_app

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def _server(model: Path, settings: ServerSettings):
    import uvicorn

    app = create_app(model, settings)
    port = free_port()
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
        head = part("ct", "ct.nii")
        sent[0] += len(head)
        yield head
        block = b"\0" * MB
        for _ in range(total // MB):
            sent[0] += MB
            yield block
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    settings = ServerSettings(max_upload_mb=300, max_request_mb=4, max_temp_mb=64)
    with _server(model, settings) as (url, app), DiskSampler(tmp_root) as disk:
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
    body = multipart({"ct": ("ct.nii", b"\0" * (3 * MB))})
    with _server(model, settings) as (url, app), DiskSampler(tmp_root) as disk:
        r = httpx.post(url + "/api/predict", content=iter([body]), headers=CTYPE, timeout=60)
    assert r.status_code == 413, r.text
    expect = "larger than the limit of 2 MB per file" if case == "per_file" else "temporary storage"
    assert expect in r.json()["error"]
    assert disk.peak <= (2 if case == "per_file" else 1) * MB + MB
    assert list(tmp_root.iterdir()) == [] and app.state.budget.used == 0


def _slow_body(release: threading.Event):
    yield part("ct", "ct.nii")
    release.wait(30)  # the request holds its slot mid-upload
    yield b"x" * 10 + f"\r\n--{BOUNDARY}--\r\n".encode()


def test_upload_and_scoring_share_one_admission_limit(model, tmp_root):
    """With one slot and no queue, a second request is refused (503) while the first is still uploading."""
    release = threading.Event()
    settings = ServerSettings(max_concurrent=1, max_waiting=0)
    with _server(model, settings) as (url, _), httpx.Client(timeout=60) as first_client:
        first = threading.Thread(target=lambda: first_client.post(url + "/api/predict", content=_slow_body(release),
                                                                  headers=CTYPE))
        first.start()
        time.sleep(1.0)
        second = httpx.post(url + "/api/predict", content=multipart({}, {"patient_id": "x"}), headers=CTYPE,
                            timeout=30)
        release.set()
        first.join(30)
    assert second.status_code == 503, second.text
    assert "busy" in second.json()["error"] and second.headers["retry-after"]


def _send_then_read(url: str, body: bytes) -> bytes:
    """A client that sends its whole request and reads the answer a moment later, as a busy one does."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                  f"Content-Type: {CTYPE['Content-Type']}\r\n\r\n".encode() + body)
        time.sleep(0.5)  # the server has answered by now
        answer = b""
        while chunk := s.recv(1 << 16):
            answer += chunk
    return answer


@pytest.mark.parametrize("case", ["file_limit", "busy"])
def test_refusal_reaches_a_client_that_sends_its_whole_body_first(model, tmp_root, case):
    """A 413 or 503 given before the body is read: the rest is read and dropped, so the answer arrives.

    A server that closes with unread bytes resets the connection, and the reset discards an
    answer the client has not read yet: a client that reads only after sending all (the
    page's fetch, httpx) got a reset instead of the message (found by tests/web/test_soak.py).
    """
    release = threading.Event()
    settings = ServerSettings(max_upload_mb=1, max_request_mb=64, max_concurrent=1, max_waiting=0)
    body = multipart({"ct": ("ct.nii", bytes(2 * MB))})
    with _server(model, settings) as (url, app), httpx.Client(timeout=60) as first_client:
        if case == "busy":  # a first request holds the only slot
            first = threading.Thread(target=lambda: first_client.post(url + "/api/predict",
                                                                      content=_slow_body(release), headers=CTYPE))
            first.start()
            time.sleep(1.0)
        try:
            answer = _send_then_read(url, body)
        finally:
            release.set()
            if case == "busy":
                first.join(30)
    head, _, text = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413" if case == "file_limit" else b"HTTP/1.1 503"), answer[:300]
    assert (b"per file" if case == "file_limit" else b"busy") in text
    assert list(tmp_root.iterdir()) == [] and app.state.budget.used == 0


def test_prepared_images_count_in_the_disk_budget(model, small_study, scan_files, tmp_root):
    """Scoring writes the prepared (resampled, float32) images to the temporary folder: reserved first too.

    Found by tests/web/test_soak.py: a 0.2 MB upload put about 3.5 MB on the temporary disk
    that the budget did not see, so its limit did not bound the disk.
    """
    files = _upload(small_study, scan_files)
    upload = sum(len(data) for _, data in files.values())
    with _server(model, ServerSettings()) as (url, app), DiskSampler(tmp_root) as disk:
        r = httpx.post(url + "/api/predict", files=files, timeout=300)
    assert r.status_code == 200, r.text
    assert disk.peak > 2 * upload  # the prepared images were on disk, larger than the upload
    assert app.state.budget.peak >= disk.peak, (app.state.budget.peak, disk.peak)
    assert list(tmp_root.iterdir()) == [] and app.state.budget.used == 0
    # a budget that holds the upload but not the prepared images: refused, nothing left
    with _server(model, ServerSettings(max_temp_mb=1)) as (url, app), DiskSampler(tmp_root) as disk:
        r = httpx.post(url + "/api/predict", files=files, timeout=300)
    assert r.status_code == 413, r.text
    assert "temporary storage" in r.json()["error"]
    assert disk.peak <= MB and list(tmp_root.iterdir()) == [] and app.state.budget.used == 0


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


@pytest.mark.parametrize("case, expect", [
    ("duplicate", "twice (duplicate names)"),
    ("overlap", "overlap"),
    ("bad_crc", "is damaged"),
])
def test_malformed_zip_is_a_400(model, small_study, scan_files, tmp_root, case, expect):
    archive = {"duplicate": duplicate_zip, "overlap": overlapping_zip, "bad_crc": bad_crc_zip}[case]()
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
    files["ct"] = ("ct.zip", make_zip([("series/1.dcm", dicom_like(b"a"))]))  # a DICOM no reader accepts
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
            chunk = part("ct", "ct.nii") + b"\0" * MB
            s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            deadline = time.monotonic() + 10
            while app.state.budget.used == 0 and time.monotonic() < deadline:
                time.sleep(0.02)  # until the server has the part on disk
            assert app.state.budget.used > 0
        deadline = time.monotonic() + 10
        while (app.state.budget.used or list(tmp_root.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.budget.used == 0 and list(tmp_root.iterdir()) == []
