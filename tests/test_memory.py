"""The paths that keep the notebooks' memory low give the same numbers as the plain ones: images through
the tower a chunk at a time, the encoder fingerprint hashed without copies, run folders loaded a
tensor at a time, memory handed back after fit."""

import hashlib
import json
import shutil
from dataclasses import asdict

import pytest
import torch
from safetensors.torch import load_file

from memelib.checkpoint import load_run
from memelib.config import preset
from memelib.errors import CheckpointError
from memelib.features import encode_images, encoder_fingerprint
from memelib.model import build_model
from memelib.runtime import release_memory


@pytest.mark.parametrize("n", [1, 2, 9, 17, 44, 64])
def test_images_a_chunk_at_a_time_give_the_vectors_of_one_pass(n):
    model = build_model(preset("offline").model).eval()  # ResNet18, channels-last, as in the course
    x = torch.randn(n, 3, 64, 64)
    sizes = []
    model.image_encoder.register_forward_hook(lambda module, args, out: sizes.append(args[0].shape[0]))
    with torch.inference_mode():
        whole = model.encode_image(x)
        sizes.clear()
        chunked = encode_images(model, x, chunk=8)
    assert torch.equal(chunked, whole)
    assert sum(sizes) == n and max(sizes) <= 8 and max(sizes) - min(sizes) <= 1
    assert min(sizes) > 1 or n == 1, "a lone image can take another code path: never a chunk of one"


def test_encoder_fingerprint_is_unchanged_by_hashing_without_copies():
    model = build_model(preset("tiny").model)
    h = hashlib.blake2b(digest_size=16)  # the definition before: every tensor copied with .tobytes()
    h.update(json.dumps({"text": asdict(model.cfg.text), "image": asdict(model.cfg.image)}, sort_keys=True).encode())
    for encoder in (model.text_encoder, model.image_encoder):
        for name, tensor in encoder.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    assert encoder_fingerprint(model) == h.hexdigest(), "the feature caches already on disk keep their keys"


def test_run_folder_loads_the_files_tensors_exactly(tiny_run):
    model = load_run(tiny_run)[0]
    stored = load_file(str(tiny_run / "model.safetensors"))
    state = model.state_dict()
    assert set(state) == set(stored) and all(torch.equal(state[k], stored[k]) for k in stored)


def test_release_memory_is_safe_to_call_anywhere():
    release_memory()  # malloc_trim on glibc, nothing elsewhere
    release_memory()


def test_run_folder_with_other_shapes_fails_clearly(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    info = json.loads((run / "config.json").read_text())
    info["config"]["model"]["fusion"]["hidden_dim"] += 1  # the same tensor names, other shapes
    (run / "config.json").write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="shapes do not match"):
        load_run(run)
