"""memelib: hateful-memes classification from text and image, the library behind the course.

The public API in a few names (CLIP/timm style); importing memelib loads nothing heavy and does
nothing: no seeds, no downloads, no prints.

    from memelib import preset, fit, Predictor
    cfg = preset("offline", fusion__name="concat")
    fit(cfg, "data/synthmemes", "artifacts/run")
    Predictor("artifacts/run").predict("meme.png", "a caption")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> module that defines it; imported on first use so that `import memelib` stays light.
_EXPORTS = {
    "Config": "config", "ModelConfig": "config", "TrainConfig": "config", "TextEncoderConfig": "config",
    "ImageEncoderConfig": "config", "FusionConfig": "config", "PRESETS": "config", "preset": "config",
    "Record": "annotations", "read_split": "annotations", "validate": "validation", "load_split": "validation", "DataError": "errors", "AnnotationError": "errors",
    "open_image": "images", "ImageError": "errors",
    "SynthConfig": "synthetic", "generate": "synthetic", "load_meta": "synthetic",
    "MemeDataset": "data", "MemeCollator": "data", "make_loader": "data", "image_transform": "data",
    "TextEncoder": "encoders", "ImageEncoder": "encoders", "load_tokenizer": "encoders",
    "offline_text_model_dir": "encoders", "ModelUnavailableError": "errors",
    "FUSIONS": "fusion", "build_fusion": "fusion", "save_tiny_clip": "clip",
    "MemeClassifier": "model", "build_model": "model", "resolve_device": "runtime", "autocast": "runtime",
    "extract_features": "features", "cached_features": "features",
    "fit": "train", "seed_everything": "train",
    "compute_metrics": "metrics", "tune_threshold": "metrics", "evaluation_report": "metrics", "format_report": "metrics",
    "group_report": "metrics", "format_group_report": "metrics", "group_values": "annotations",
    "content_note": "course", "blur_image": "images", "label_rule": "captions",
    "save_run": "checkpoint", "load_run": "checkpoint", "load_head": "checkpoint", "CheckpointError": "errors", "write_json": "files",
    "Predictor": "inference", "predict_probs": "inference", "explain": "explain", "Explanation": "explain",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'memelib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
