"""The code's structure holds: one source of names, light commands, short functions, timm's head API."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from memelib import config
from memelib.config import FusionConfig, TextEncoderConfig, preset
from memelib.encoders import IMAGE_ENCODERS, TextEncoder, build_text_encoder
from memelib.fusion import FUSIONS, build_fusion
from memelib.model import build_model
from memelib.runtime import autocast, resolve_device

PACKAGE = Path(__file__).resolve().parents[1] / "memelib"
MAX_FUNCTION_LINES = 60


def test_the_name_lists_match_their_registries():
    assert list(config.FUSION_NAMES) == list(FUSIONS)
    assert list(config.IMAGE_ENCODER_NAMES) == [*IMAGE_ENCODERS, "clip"]  # memelib.clip builds the last
    backbone = build_text_encoder(TextEncoderConfig(name="tiny")).backbone
    for pooling in config.POOLINGS:
        if pooling == "eos":  # CLIP's own pooling: its text tower's, never DistilBERT's
            assert preset("clip").model.text.pooling == "eos"
            with pytest.raises(ValueError, match="CLIP's"):
                TextEncoder(backbone, pooling)
        else:
            TextEncoder(backbone, pooling)
    with pytest.raises(ValueError):
        TextEncoder(backbone, "max")
    for precision in config.PRECISIONS:
        with autocast(torch.device("cpu"), precision):
            pass
    assert resolve_device("auto").type in config.DEVICES and resolve_device("cpu").type == "cpu"


def test_the_command_line_offers_exactly_the_registered_choices():
    from memelib.cli import build_parser

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    choices = {a.dest: list(a.choices) for a in train._actions if a.choices}
    assert choices["fusion"] == list(FUSIONS) and choices["preset"] == list(config.PRESETS)
    assert choices["image_encoder"] == list(config.IMAGE_ENCODER_NAMES)
    assert choices["device"] == list(config.DEVICES) and choices["precision"] == list(config.PRECISIONS)


@pytest.mark.parametrize("argv", [["--help"], ["validate", "--no-images", "{data}"]], ids=["help", "validate"])
def test_help_and_validate_do_not_import_torch(argv, synth_dir):
    argv = [a.format(data=synth_dir) for a in argv]
    code = ("import sys\nfrom memelib.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules)" % argv)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def _functions():
    for path in sorted(PACKAGE.rglob("*.py")):  # subpackages (memelib/exercises/) included
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield str(path.relative_to(PACKAGE)), node


def test_no_function_is_longer_than_60_lines():
    long = [f"{name}:{fn.name} {fn.end_lineno - fn.lineno + 1}" for name, fn in _functions()
            if fn.end_lineno - fn.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_no_module_imports_another_modules_private_name():
    private = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                private += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not private


@pytest.mark.parametrize("name", list(FUSIONS))
def test_every_head_has_forward_head_with_pre_logits(name):
    torch.manual_seed(0)
    cfg = FusionConfig(name=name, hidden_dim=16, cross_dim=4)
    head = build_fusion(cfg, text_dim=12, image_dim=20).eval()
    t, i = torch.randn(5, 12), torch.randn(5, 20)
    logits = head.forward_head(t, i)
    assert torch.equal(logits, head(t, i)) and logits.shape == (5, 2)
    pre = head.forward_head(t, i, pre_logits=True)
    branches = 2 if name == "late" else 1  # late: both branches' hidden vectors, concatenated
    assert pre.shape == (5, branches * cfg.hidden_dim)
    last = head.text_head[-1] if name == "late" else head.mlp[-1]
    if name != "late":  # the pre-logits vector is exactly what the last linear layer turns into logits
        assert torch.allclose(last(pre), logits, atol=1e-6)


@pytest.mark.parametrize("name", list(FUSIONS))
def test_model_forward_is_forward_head_of_forward_features(name, synth_dir):
    from memelib.data import MemeCollator, image_transform
    from memelib.encoders import load_tokenizer
    from memelib.images import open_image

    cfg = preset("tiny", fusion__name=name)
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    tokenizer = load_tokenizer(cfg.model.text)
    transform = image_transform(cfg.model.image.image_size)
    images = sorted((synth_dir / "img").glob("*.png"))[:3]
    batch = MemeCollator(tokenizer, cfg.model.text.max_length)(
        [{"text": f"caption {n}", "pixel_values": transform(open_image(p)), "label": 0} for n, p in enumerate(images)])
    batch.pop("labels")
    with torch.no_grad():
        text_features, image_features = model.forward_features(**batch)
        assert (text_features is None) == (name == "image") and (image_features is None) == (name == "text")
        assert torch.equal(model(**batch), model.forward_head(text_features, image_features))
        cached = model(text_features=text_features, image_features=image_features)  # cached features pass through
        assert torch.equal(cached, model(**batch))
