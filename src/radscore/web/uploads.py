"""Uploaded files: size limits, type checks by extension *and* content, safe unzipping of DICOM.

Every rejection is an :class:`~radscore.errors.ImageError` whose ``message`` the page
shows as is. The magic numbers are those of the formats' specifications (NIfTI-1/2
header ``magic`` field, gzip RFC 1952, ZIP local file header, NRRD and MetaImage text
headers, DICOM Part 10 preamble); written by hand because no dependency checks an
upload's type without fully reading it as an image.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from radscore.errors import ImageError
from radscore.web.limits import Lease

logger = logging.getLogger(__name__)

SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".zip")
MASK_SUFFIXES = (*SUFFIXES, ".dcm")  # a mask may also be one DICOM RTSTRUCT or SEG file
CHUNK = 1 << 20


def suffix_of(filename: str, role: str = "image") -> str:
    """The accepted suffix ``filename`` ends with (lower-case), or raise :class:`ImageError`."""
    low = filename.lower()
    for s in MASK_SUFFIXES if role == "mask" else SUFFIXES:
        if low.endswith(s):
            return s
    raise ImageError(f"unsupported file type {Path(filename).name!r}.", file=filename,
                     fix="upload a NIfTI (.nii, .nii.gz), NRRD (.nrrd) or MetaImage (.mha) file, a .zip of "
                         "one DICOM series, or (mask) a DICOM RTSTRUCT/SEG .dcm file.")


def _nifti_magic(head: bytes) -> bool:
    # NIfTI-1: "n+1\0" or "ni1\0" at byte 344; NIfTI-2: "n+2\0"/"ni2\0" at byte 4.
    return head[344:348] in (b"n+1\0", b"ni1\0") or head[4:8] in (b"n+2\0", b"ni2\0")


def check_content(path: Path, suffix: str, original: str) -> None:
    """Reject a file whose first bytes do not match its extension."""
    with open(path, "rb") as fh:
        head = fh.read(600)
    ok = True
    if suffix == ".nii.gz":
        if head[:2] != b"\x1f\x8b":
            ok = False
        else:
            try:
                with gzip.open(path, "rb") as gz:
                    ok = _nifti_magic(gz.read(600))
            except (OSError, EOFError):
                ok = False
    elif suffix == ".nii":
        ok = _nifti_magic(head)
    elif suffix == ".nrrd":
        ok = head.startswith(b"NRRD")
    elif suffix == ".mha":
        first = head.split(b"\n", 1)[0].strip().split(b"=")[0].strip()
        ok = first in (b"ObjectType", b"NDims", b"Comment", b"TransformType")
    elif suffix == ".zip":
        ok = head[:4] == b"PK\x03\x04"
    elif suffix == ".dcm":
        ok = head[128:132] == b"DICM"
    if not ok:
        raise ImageError(f"the content of {original!r} is not a {suffix} file (its first bytes do not match).",
                         file=original, fix="upload the original image file; it may be damaged or renamed.")


def finish_upload(path: Path, filename: str, role: str, lease: Lease, *, max_zip_bytes: int) -> Path:
    """Check a received upload's type by content and unzip a DICOM zip beside it.

    Returns the path to give the loaders: the file, or the DICOM folder inside a zip.
    """
    suffix = suffix_of(filename, role)
    if path.stat().st_size == 0:
        raise ImageError(f"{role} upload is empty.", file=filename, fix="choose the file again.")
    check_content(path, suffix, filename)
    if suffix == ".zip":
        return unzip_dicom(path, path.parent / role, filename, max_bytes=max_zip_bytes, reserve=lease.reserve)
    return path


def _check_members(zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], original: str) -> list[tuple[str, ...]]:
    """Each member's safe path parts; refuse unsafe, duplicate and overlapping entries.

    Duplicate names would silently overwrite each other (which one is read depends on the
    extractor); entries whose data overlap are the trick of "zip bombs" that reuse one
    compressed block for many files. Both mean the archive was not made by a zip tool
    from one folder, so it is refused rather than guessed at.
    """
    seen: set[tuple[str, ...]] = set()
    out = []
    for m in members:
        parts = PurePosixPath(m.filename.replace("\\", "/")).parts
        if not parts or m.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise ImageError(f"the zip holds an unsafe path {m.filename!r}.", file=original)
        key = tuple(p.casefold() for p in parts)  # equal on a case-insensitive disk too
        if key in seen:
            raise ImageError(f"the zip holds {m.filename!r} twice (duplicate names).", file=original,
                             fix="zip the folder again with a standard zip tool.")
        seen.add(key)
        out.append(parts)
    folders = {k[:i] for k in seen for i in range(1, len(k))}
    if clash := seen & folders:
        raise ImageError(f"the zip holds {'/'.join(next(iter(clash)))!r} both as a file and as a folder.",
                         file=original, fix="zip the folder again with a standard zip tool.")
    fp = zf.fp
    ends = []
    for m in sorted(zf.infolist(), key=lambda i: i.header_offset):
        fp.seek(m.header_offset)
        head = fp.read(30)
        if len(head) != 30 or head[:4] != b"PK\x03\x04":
            raise ImageError(f"the zip entry {m.filename!r} has no valid local header (damaged).", file=original)
        start = m.header_offset + 30 + int.from_bytes(head[26:28], "little") + int.from_bytes(head[28:30], "little")
        ends.append((m.header_offset, start + m.compress_size, m.filename))
    for (_, end, name), (nxt, _, _) in itertools.pairwise(ends):
        if end > nxt:
            raise ImageError(f"the zip entries {name!r} and the next one overlap (malformed or a zip bomb).",
                             file=original, fix="zip the folder again with a standard zip tool.")
    if ends and ends[-1][1] > zf.start_dir:
        raise ImageError("the zip's last entry overlaps its directory (malformed).", file=original)
    return out


def unzip_dicom(archive: Path, folder: Path, original: str, *, max_bytes: int, max_files: int = 5000,
                reserve: Callable[[int], None] | None = None) -> Path:
    """Extract a zip safely and return its DICOM folder.

    Refused with :class:`ImageError`: absolute or ``..`` paths, duplicate or overlapping
    entries, a damaged entry (bad CRC, bad compressed data), more than ``max_files`` files
    or ``max_bytes`` extracted. ``reserve(n)`` is called before ``n`` bytes are written
    (the page's disk budget; it raises to stop).
    """
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise ImageError("the zip archive cannot be opened (damaged).", file=original) from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if len(members) > max_files:
            raise ImageError(f"the zip holds {len(members)} files, more than {max_files}.", file=original)
        if sum(m.file_size for m in members) > max_bytes:
            raise ImageError("the zip expands beyond the upload limit.", file=original)
        written = 0
        for m, parts in zip(members, _check_members(zf, members, original)):
            target = folder.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(m) as s, open(target, "wb") as d:
                    while chunk := s.read(CHUNK):
                        # counted as written, not as declared: the header's sizes are the client's word
                        written += len(chunk)
                        if written > max_bytes:
                            raise ImageError("the zip expands beyond the upload limit.", file=original)
                        if reserve is not None:
                            reserve(len(chunk))
                        d.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise ImageError(f"the zip entry {m.filename!r} is damaged ({exc}).", file=original,
                                 fix="zip the folder again; the archive was corrupted.") from None
            except (NotImplementedError, RuntimeError) as exc:  # unknown compression method, encryption
                raise ImageError(f"the zip entry {m.filename!r} cannot be extracted ({exc}).", file=original,
                                 fix="zip the folder with standard (deflate) compression and no password.") from None
    dirs: dict[Path, int] = {}
    for f in folder.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                fh.seek(128)
                if fh.read(4) == b"DICM":
                    dirs[f.parent] = dirs.get(f.parent, 0) + 1
    if not dirs:
        raise ImageError("the zip holds no DICOM file (no 'DICM' marker).", file=original,
                         fix="zip the folder of one DICOM series.")
    if len(dirs) > 1:
        raise ImageError(f"the zip holds DICOM files in {len(dirs)} folders; expected one series.", file=original,
                         fix="zip one series per upload.")
    return next(iter(dirs))
