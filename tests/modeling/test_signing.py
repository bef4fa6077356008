"""Signed models (issue 18 item 2): a model whose manifest was edited and re-hashed is refused
when a trusted key is given; without one, the hashes are described as a corruption check."""

from __future__ import annotations

import json
import stat

import numpy as np
import pandas as pd
import pytest

from radscore.cli import main
from radscore.config import StudyConfig
from radscore.errors import ModelFileError
from radscore.modeling.artifact import _dumps, load_model, save_model
from radscore.modeling.radscore import RadscoreClassifier
from radscore.modeling.signing import generate_keypair, sign_model, verify_model
from radscore.runtime.files import sha256_bytes


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(3)
    n, p = 80, 20
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(rng.normal(size=(n, p)) + 2 * y[:, None] * (np.arange(p) < 3),
                     columns=[f"ct_tumor_f{i}" for i in range(p)])
    return RadscoreClassifier(grid={"max_depth": [2], "n_estimators": [20]}, random_state=1).fit(X, y)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return generate_keypair(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def signed(fitted, keys, tmp_path):
    folder = save_model(fitted, tmp_path / "ct", scan=StudyConfig().scan, name="ct")
    sign_model(folder, keys[0])
    return folder


def _forge_cutoff(folder, cutoff: float) -> None:
    """What the hashes cannot catch: edit the cutoff and recompute the manifest's own hash."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.pop("manifest_sha256")
    manifest["cutoff"] = cutoff
    manifest["manifest_sha256"] = sha256_bytes(_dumps(manifest))
    (folder / "manifest.json").write_bytes(_dumps(manifest))


def test_keygen_writes_a_private_key_only_its_owner_reads(keys):
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    with pytest.raises(ModelFileError, match="exists already"):
        generate_keypair(private.parent)


def test_signed_model_loads_with_its_key(signed, keys):
    loaded = load_model(signed, trusted_key=keys[1])
    assert loaded.signed_by == verify_model(signed, keys[1]) and len(loaded.signed_by) == 64
    assert load_model(signed).signed_by is None


def test_forged_model_is_refused_with_a_trusted_key(signed, keys):
    _forge_cutoff(signed, -5.0)
    assert load_model(signed).cutoff == -5.0  # the hashes agree with each other: a corruption check only
    with pytest.raises(ModelFileError, match="changed after signing"):
        load_model(signed, trusted_key=keys[1])


def test_unsigned_model_or_another_key_is_refused(fitted, signed, keys, tmp_path):
    unsigned = save_model(fitted, tmp_path / "unsigned", scan=StudyConfig().scan, name="ct")
    with pytest.raises(ModelFileError, match="not signed"):
        load_model(unsigned, trusted_key=keys[1])
    _, other = generate_keypair(tmp_path / "other")
    with pytest.raises(ModelFileError, match="signed by another key"):
        load_model(signed, trusted_key=other)
    with pytest.raises(ModelFileError, match="not a PEM public key"):
        load_model(signed, trusted_key=signed / "manifest.json")


def test_cli_sign_and_trusted_key(fitted, keys, tmp_path, capsys):
    """radscore keygen/sign; predict and serve refuse a forged model with exit code 2 before reading scans."""
    folder = save_model(fitted, tmp_path / "ct", scan=StudyConfig().scan, name="ct")
    assert main(["-q", "keygen", "--out", str(tmp_path / "k")]) == 0
    assert main(["-q", "sign", str(folder), "--key", str(tmp_path / "k" / "private.pem")]) == 0
    assert (folder / "signature.json").is_file()
    _forge_cutoff(folder, 9.0)
    capsys.readouterr()
    scan = ["--ct", "ct.nii.gz", "--mask", "mask.nii.gz"]
    public = str(tmp_path / "k" / "public.pem")
    assert main(["-q", "predict", str(folder), *scan, "--trusted-key", public]) == 2
    err = capsys.readouterr().err
    assert "signature does not verify" in err and "changed after signing" in err
    assert main(["-q", "serve", str(folder), "--port", "1", "--trusted-key", public]) == 2
    assert "signature does not verify" in capsys.readouterr().err


def test_hash_mismatch_message_calls_it_corruption(fitted, tmp_path):
    folder = save_model(fitted, tmp_path / "ct", scan=StudyConfig().scan, name="ct")
    (folder / "preprocessing.json").write_text("{}")
    with pytest.raises(ModelFileError, match="damaged or was edited"):
        load_model(folder)
