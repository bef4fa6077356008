"""Ed25519 signatures of model artifacts: proof of who produced a model, not only that it is intact.

A model folder's ``manifest.json`` lists the SHA-256 of every other file and its own hash,
so those hashes only show that the files agree with each other: they detect accidental
corruption, but anyone who edits a file (say the cutoff) can recompute them. A signature
over the manifest's exact bytes, made with a private key the model's publisher keeps,
can only be recomputed with that key; :func:`verify_model` checks it with the matching
public key, after which the manifest's file hashes extend the proof to every file.

Signature file ``signature.json`` (beside the manifest, not listed in it)::

    {"algorithm": "ed25519", "signed_file": "manifest.json",
     "public_key_sha256": "<SHA-256 of the raw 32-byte public key>",
     "signature": "<base64 of the 64-byte Ed25519 signature of manifest.json>"}

Ed25519 (RFC 8032) through the ``cryptography`` package; keys are PEM files (PKCS#8
private, SubjectPublicKeyInfo public), the same that ``openssl genpkey -algorithm
ed25519`` writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from radscore.errors import ModelFileError

SIGNATURE = "signature.json"
SIGNED_FILE = "manifest.json"


def _fingerprint(public_key) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def _read_key(path: str | Path, private: bool):
    """An Ed25519 key from a PEM file, or a :class:`ModelFileError` saying what is wrong with it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_pem_public_key,
    )

    kind = "private" if private else "public"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read the {kind} key ({exc.strerror}).", file=str(path)) from None
    try:
        key = load_pem_private_key(data, password=None) if private else load_pem_public_key(data)
    except TypeError:  # the PEM is encrypted
        raise ModelFileError("the private key is password-protected; radscore reads unencrypted keys only.",
                             file=str(path), fix="keep the key file itself protected (chmod 600) instead, or "
                                                 "decrypt it: openssl pkey -in KEY -out PLAIN.pem.") from None
    except ValueError:
        raise ModelFileError(f"not a PEM {kind} key.", file=str(path),
                             fix="give the file written by 'radscore keygen' (private.pem to sign, public.pem "
                                 "to verify).") from None
    expected = Ed25519PrivateKey if private else Ed25519PublicKey
    if not isinstance(key, expected):
        raise ModelFileError(f"the {kind} key is not an Ed25519 key ({type(key).__name__}).", file=str(path),
                             fix="make one with 'radscore keygen' or 'openssl genpkey -algorithm ed25519'.")
    return key


def generate_keypair(out_dir: str | Path) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair as ``out_dir/private.pem`` (mode 600) and ``out_dir/public.pem``.

    Returns
    -------
    (private, public) paths.

    Raises
    ------
    ModelFileError
        Either file exists already (a key is never overwritten: models signed with it
        would no longer verify).
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / "private.pem", out / "public.pem"
    for p in (private, public):
        if p.exists():
            raise ModelFileError("a key file exists already; it is not overwritten.", file=str(p),
                                 fix="choose another --out folder.")
    key = Ed25519PrivateKey.generate()
    # created with mode 600 from the start, so the private key is never readable by others
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return private, public


def sign_model(folder: str | Path, private_key: str | Path) -> Path:
    """Sign a model folder's ``manifest.json`` with an Ed25519 private key; the signature file's path.

    The model is loaded (and its hashes checked) first, so a damaged model is never signed.
    """
    from radscore.modeling.artifact import load_model
    from radscore.runtime.files import atomic_write_bytes

    folder = Path(folder)
    load_model(folder)
    key = _read_key(private_key, private=True)
    signature = key.sign((folder / SIGNED_FILE).read_bytes())
    record = {"algorithm": "ed25519", "signed_file": SIGNED_FILE,
              "public_key_sha256": _fingerprint(key.public_key()),
              "signature": base64.b64encode(signature).decode()}
    path = folder / SIGNATURE
    atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return path


def verify_model(folder: str | Path, public_key: str | Path) -> str:
    """Check that ``folder``'s manifest is signed by ``public_key``; the key's fingerprint.

    Raises
    ------
    ModelFileError
        No signature, a signature by another key, or a manifest changed after signing.
    """
    from cryptography.exceptions import InvalidSignature

    folder = Path(folder)
    key = _read_key(public_key, private=False)
    path = folder / SIGNATURE
    if not path.is_file():
        raise ModelFileError("the model is not signed, and a trusted key was given.", file=str(folder),
                             fix="ask the model's publisher for the signed model (radscore sign MODEL --key "
                                 "PRIVATE.pem), or omit --trusted-key.")
    try:
        record = json.loads(path.read_text())
        signature = base64.b64decode(record["signature"], validate=True)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise ModelFileError("the signature file cannot be read.", file=str(path),
                             fix="sign the model again.") from None
    if record.get("algorithm") != "ed25519" or record.get("signed_file") != SIGNED_FILE:
        raise ModelFileError(f"unsupported signature ({record.get('algorithm')!r} over "
                             f"{record.get('signed_file')!r}).", file=str(path), fix="sign the model again.")
    fingerprint = _fingerprint(key)
    try:
        key.verify(signature, (folder / SIGNED_FILE).read_bytes())
    except InvalidSignature:
        other = record.get("public_key_sha256") != fingerprint
        why = ("it was signed by another key" if other
               else "manifest.json was changed after signing (forged or edited model)")
        raise ModelFileError(f"the signature does not verify with the trusted key: {why}.", file=str(folder),
                             fix="do not use this model; get an untouched copy from its publisher.") from None
    return fingerprint
