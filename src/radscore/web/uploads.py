"""Uploaded files: size limits, type checks by extension *and* content, safe unzipping of DICOM.

Every rejection is an :class:`~radscore.errors.ImageError` whose ``message`` the page
shows as is. The magic numbers are those of the formats' specifications (NIfTI-1/2
header ``magic`` field, gzip RFC 1952, ZIP local file header, NRRD and MetaImage text
headers, DICOM Part 10 preamble); written by hand because no dependency checks an
upload's type without fully reading it as an image.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from radscore.errors import ImageError

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


def save_upload(src: BinaryIO, filename: str, dest_dir: Path, role: str, max_bytes: int) -> Path:
    """Copy an upload to ``dest_dir/<role><suffix>`` with a size cap, then check its type.

    Returns the path to give the loaders: the file, or the DICOM folder inside a zip.
    """
    suffix = suffix_of(filename, role)
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / f"{role}{suffix}"
    size = 0
    with open(out, "wb") as fh:
        while chunk := src.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise ImageError(f"{role} upload is larger than the limit of {max_bytes // (1 << 20)} MB.",
                                 file=filename, fix="crop the image or start the server with a larger --max-upload-mb.")
            fh.write(chunk)
    if size == 0:
        raise ImageError(f"{role} upload is empty.", file=filename, fix="choose the file again.")
    check_content(out, suffix, filename)
    if suffix == ".zip":
        return unzip_dicom(out, dest_dir / role, filename, max_bytes=max_bytes * 4)
    return out


def unzip_dicom(archive: Path, folder: Path, original: str, *, max_bytes: int, max_files: int = 5000) -> Path:
    """Extract a zip safely (no absolute or ``..`` paths, bounded size) and return its DICOM folder."""
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
        for m in members:
            parts = PurePosixPath(m.filename.replace("\\", "/")).parts
            if not parts or m.filename.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
                raise ImageError(f"the zip holds an unsafe path {m.filename!r}.", file=original)
            target = folder.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as s, open(target, "wb") as d:
                shutil.copyfileobj(s, d, CHUNK)
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
