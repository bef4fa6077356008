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


def test_the_default_protocol_is_the_seeds():
    from radscore.catalog import SEED_IMAGE_TYPES

    cfg = config_from_dict({})
    assert cfg.protocol == "nsclc_seed" and StudyConfig().protocol == "nsclc_seed"
    # the seed's 22 filtered images: 2060 features per VOI (tests/features/test_parity.py counts them)
    assert cfg.features.image_types == SEED_IMAGE_TYPES and StudyConfig().features == cfg.features
    assert cfg.selection.mrmr_features and cfg.selection.rfe_features and cfg.selection.univariate_test == "ttest"
    assert cfg.robustness.icc_threshold == 0.75 and "random_0" in cfg.robustness.perturbations
    assert cfg.model.cv_folds == 10
    quick = config_from_dict({"protocol": "quick"})
    assert quick.features.image_types == {"original": {}}
    assert quick.selection.mrmr_features is None and quick.selection.rfe_features is None


def test_a_study_key_overrides_its_protocol_and_keeps_the_rest():
    cfg = config_from_dict({"features": {"image_types": {"original": {}}}, "selection": {"ttest_p": 0.01}})
    assert cfg.features.image_types == {"original": {}}  # taken whole, not merged with the seed's 22
    assert cfg.selection.ttest_p == 0.01 and cfg.selection.mrmr_features == 50  # the preset's other keys stay
    assert config_from_dict({"selection": {"mrmr_features": None}}).selection.mrmr_features is None
    with pytest.raises(ConfigError, match="protocol"):
        config_from_dict({"protocol": "nsclc"})


def test_init_writes_every_default_commented_and_valid(tmp_path, capsys):
    import yaml

    from radscore.cli import main

    for protocol in ("nsclc_seed", "quick"):
        folder = tmp_path / protocol
        assert main(["init", str(folder), "--protocol", protocol]) == 0
        text = (folder / "study.yaml").read_text()
        data = yaml.safe_load(text)
        assert config_from_dict(data) == config_from_dict({"protocol": protocol})
        # spelled out: every section and key of the config is in the file
        assert set(data) == set(StudyConfig.model_fields)
        assert set(data["selection"]) == set(type(StudyConfig().selection).model_fields)
        assert "# mRMR (FCQ) step keeping this many" in text
    assert main(["init", str(tmp_path / "quick")]) == 4  # never overwrites a study.yaml


def test_every_config_error_is_reported_at_once(tmp_path):
    # issue 18.6: one message for all mistakes, each naming its key, not the first one only
    path = tmp_path / "study.yaml"
    path.write_text("seed: x\nsplit:\n  test_fraction: 2\nmodel:\n  cutof: youden\nselection:\n  icc_type: icc3\n"
                    "bogus: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = err.value.message
    assert msg.startswith(f"{path}: 5 problems:")
    for key in ("key 'seed'", "key 'split.test_fraction'", "unknown key 'model.cutof'", "use one of: cutoff",
                "key 'selection.icc_type' has moved to 'robustness.icc_type'", "unknown key 'bogus'"):
        assert key in msg
    assert "unknown key 'selection.icc_type'" not in msg  # the moved key is named once, as moved
    assert len(msg.splitlines()) == 6  # the heading and one line per problem


def test_unquoted_off_is_accepted_for_icc_source(tmp_path):
    # YAML reads `icc_source: off` as the boolean false; it can only mean 'off'
    path = tmp_path / "study.yaml"
    path.write_text("robustness:\n  icc_source: off\n")
    cfg = load_config(path)
    assert cfg.robustness.icc_source == "off"
    path.write_text(dump_config(cfg))
    assert load_config(path).robustness.icc_source == "off"


@pytest.mark.parametrize("text, key", [
    ("robustness:\n  icc_source: on\n", "robustness.icc_source"),
    ("preprocess:\n  registration: no\n", "preprocess.registration"),
    ("model:\n  cutoff: yes\n", "model.cutoff"),
    ("endpoint:\n  column: no\n", "endpoint.column"),
    ("clinical: [age, off]\n", "clinical.1"),
])
def test_a_yaml_boolean_in_a_text_key_says_to_quote_it(tmp_path, text, key):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = err.value.message
    assert f"key '{key}' needs text" in msg and "YAML read an unquoted word as the boolean" in msg
    assert "put the word in quotes" in msg
