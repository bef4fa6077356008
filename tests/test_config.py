import pytest

from radscore.config import StudyConfig, config_from_dict, dump_config, load_config
from radscore.errors import ConfigError


def test_defaults_round_trip_through_yaml(tmp_path):
    cfg = StudyConfig(seed=7, clinical=["tps"])
    path = tmp_path / "study.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg


def test_unknown_key_names_key_and_lists_valid_ones():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"voi": {"ring_mmm": 5}})
    msg = err.value.message
    assert "voi.ring_mmm" in msg and "ring_mm" in msg and "core_mm" in msg


def test_unknown_top_level_key():
    with pytest.raises(ConfigError, match="unknown key 'sede'"):
        config_from_dict({"sede": 1})


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match="split.test_fraction"):
        config_from_dict({"split": {"test_fraction": "a third"}})


@pytest.mark.parametrize("data, key", [
    ({"voi": {"ring_mm": -5}}, "voi.ring_mm"),
    ({"split": {"test_fraction": 1.5}}, "split.test_fraction"),
    ({"preprocess": {"spacing_mm": [1, 0, 1]}}, "preprocess.spacing_mm"),
    ({"features": {"feature_classes": ["glcm", "nonsense"]}}, "features.feature_classes"),
])
def test_impossible_values(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_dict(data)


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("voi: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_stage_hash_changes_only_with_its_sections():
    a = StudyConfig()
    b = config_from_dict({"model": {"cv_folds": 5}})
    assert a.stage_hash("voi", "features") == b.stage_hash("voi", "features")
    assert a.stage_hash("model") != b.stage_hash("model")
