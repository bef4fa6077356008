"""Reading the page's multipart form as a stream, with every byte counted before it lands.

Starlette's own form parser (what FastAPI's ``UploadFile`` parameters use) spools each
file to a temporary file before the route runs, so a size check in the route comes after
the disk is already used. Here the body is fed chunk by chunk to python-multipart's
push parser and each file part is written straight to the request's folder, after
reserving its bytes in the page's :class:`~radscore.web.limits.DiskBudget`; the request
stops with :class:`~radscore.web.limits.LimitExceeded` (413) at the first byte over the
per-request, per-file or disk limit, chunked or not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from radscore.web.limits import Lease, LimitExceeded
from radscore.web.uploads import suffix_of

MAX_FIELD_BYTES = 4096  # text fields are IDs and ROI names
MAX_PARTS = 32


@dataclass
class Received:
    """The form as received: text fields, and each file field's saved path and client file name."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[Path, str]] = field(default_factory=dict)


class _Receiver:
    """python-multipart callbacks writing file parts to disk under the limits."""

    def __init__(self, folder: Path, lease: Lease, max_file: int, file_fields: dict[str, tuple[str, str]]):
        self.folder, self.lease, self.max_file, self.file_fields = folder, lease, max_file, file_fields
        self.out = Received()
        self._headers: dict[bytes, bytes] = {}
        self._hname = self._hvalue = b""
        self._name = ""
        self._fh: BinaryIO | None = None
        self._text: bytearray | None = None
        self._size = 0
        self._parts = 0

    def callbacks(self) -> dict:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field,
                "on_header_value": self.header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
                "on_part_end": self.part_end}

    def part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise LimitExceeded(f"the form has more than {MAX_PARTS} parts.", status=400)
        self._headers, self._fh, self._text, self._size = {}, None, None, 0

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def header_end(self) -> None:
        self._headers[self._hname.lower()] = self._hvalue
        self._hname = self._hvalue = b""

    def headers_finished(self) -> None:
        _, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = opts.get(b"name", b"").decode("utf-8", "replace")
        filename = opts.get(b"filename")
        if filename is None:
            if self._name in self.out.fields:
                raise LimitExceeded(f"the form field {self._name!r} is given twice.", status=400)
            self._text = bytearray()
            return
        filename = Path(filename.decode("utf-8", "replace").replace("\\", "/")).name  # the client's path is not ours
        if not filename or self._name not in self.file_fields:
            return  # no file chosen, or an image this model does not use: not stored
        if self._name in self.out.files:
            raise LimitExceeded(f"the upload {self._name!r} is given twice.", status=400)
        timepoint, role = self.file_fields[self._name]
        path = self.folder / timepoint / f"{role}{suffix_of(filename, role)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        # open across parser callbacks (closed in part_end or close()): no with-block can span them
        self._fh = open(path, "wb")  # noqa: SIM115
        self.out.files[self._name] = (path, filename)

    def part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self._text is not None:
            if len(self._text) + n > MAX_FIELD_BYTES:
                raise LimitExceeded(f"the form field {self._name!r} is longer than {MAX_FIELD_BYTES} bytes.",
                                    status=400)
            self._text += data[start:end]
        elif self._fh is not None:
            self._size += n
            if self._size > self.max_file:
                _, filename = self.out.files[self._name]
                raise LimitExceeded(f"{filename!r} is larger than the limit of {self.max_file >> 20} MB per file.")
            self.lease.reserve(n)
            self._fh.write(data[start:end])

    def part_end(self) -> None:
        if self._text is not None:
            self.out.fields[self._name] = self._text.decode("utf-8", "replace")
        if self._fh is not None:
            self._fh.close()
        self._fh, self._text = None, None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


async def receive_form(stream: AsyncIterator[bytes], content_type: str, folder: Path, lease: Lease, *,
                       max_request: int, max_file: int, file_fields: dict[str, tuple[str, str]]) -> Received:
    """Read a ``multipart/form-data`` body from ``stream`` into ``folder`` under the limits.

    Parameters
    ----------
    stream : async iterator of bytes
        The request body (``request.stream()``), read only as far as the limits allow.
    content_type : str
        The request's Content-Type header (holds the boundary).
    folder : Path
        Where file parts are written, as ``folder/<timepoint>/<role><suffix>``.
    lease : Lease
        The request's account in the page's disk budget; every file byte is reserved first.
    max_request, max_file : int
        Bytes of body per request and per file part.
    file_fields : dict
        Form field name -> (timepoint, role) of each file the model uses; other file parts
        are read (and counted) but not stored.

    Raises
    ------
    LimitExceeded
        413 at the first byte over a limit; 400 for a form that is not one.
    ImageError
        A file's name has an unsupported extension.
    """
    ctype, opts = parse_options_header(content_type)
    boundary = opts.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise LimitExceeded("the request must be a multipart/form-data upload.", status=400)
    receiver = _Receiver(folder, lease, max_file, file_fields)
    parser = MultipartParser(boundary, receiver.callbacks())
    total = 0
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > max_request:
                raise LimitExceeded(f"the request is larger than the limit of {max_request >> 20} MB.")
            # writes go to the page cache in <=64 KB pieces: fast enough to do on the event loop
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:  # a malformed body: the client's fault, not the server's
        raise LimitExceeded(f"the upload is not a valid multipart form ({type(exc).__name__}).", status=400) from None
    finally:
        receiver.close()
    return receiver.out
