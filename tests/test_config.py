import pytest

from memelib.config import PRESETS, Config, config_from_dict, preset


def test_presets_describe_the_course_designs():
    full = PRESETS["full"].model
    assert (full.text.name, full.text.pooling, full.image.name, full.image.weights, full.image.image_size) == (
        "distilbert-base-uncased", "cls", "resnet50", "imagenet", 224)
    offline = PRESETS["offline"].model
    assert offline.text.name == "minilm" and offline.image.weights == "none"
    assert PRESETS["tiny"].model.text.name == "tiny"


def test_overrides_by_section_or_unique_field():
    cfg = preset("offline", fusion__name="late", epochs=3, lr=0.01, freeze=False, weights="none", text__name="x")
    assert cfg.model.fusion.name == "late" and cfg.train.epochs == 3 and cfg.train.lr == 0.01
    assert cfg.train.freeze is False and cfg.model.text.name == "x"
    assert PRESETS["offline"].model.fusion.name == "concat", "a preset is copied, never changed"


def test_none_keeps_the_preset_value_and_unknown_fields_fail():
    assert preset("tiny", epochs=None).train.epochs == PRESETS["tiny"].train.epochs
    with pytest.raises(ValueError, match="cannot override"):
        preset("tiny", nonsense=1)
    with pytest.raises(ValueError, match="cannot override"):
        preset("tiny", init_seed=1)  # ambiguous: text and image both have one
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_dict_round_trip():
    cfg = preset("full", fusion__name="cross", seed=7)
    assert config_from_dict(cfg.to_dict()) == cfg
    with pytest.raises(TypeError):
        config_from_dict({"model": {**cfg.to_dict()["model"], "text": {"bogus": 1}}})
    assert isinstance(cfg, Config)
