"""The `memelib` command (also `python -m memelib`).

    memelib synth DIR                      generate SynthMemes
    memelib validate DIR                   check every annotation and image
    memelib train --data DIR --out RUN     train (frozen features by default)
    memelib evaluate RUN --data DIR        report + metrics.json + confusion-matrix PNG
                         [--by FIELD]      ... + error rates per group (e.g. gold_pc) and the largest FPR gap
    memelib predict RUN --image P --text T one meme -> {"prob": p, "label": 0|1}
    memelib explain RUN --image P --text T why: word scores, heat map, modality shares
                        [--out DIR]       ... explanation.json and explanation.png in DIR (default: .)
    memelib submit RUN --data DIR --split test --out preds.csv

Run `memelib COMMAND --help` for the options.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Sequence

from .config import DEVICES, FUSION_NAMES, IMAGE_ENCODER_NAMES, POOLINGS, PRECISIONS, PRESETS
from .errors import AnnotationError, CheckpointError, DataError, ImageError, ModelUnavailableError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand. Choices come from memelib.config's name lists (no torch import)."""
    p = argparse.ArgumentParser(prog="memelib", description="Hateful-memes classification from text + image.")
    sub = p.add_subparsers(dest="command", required=True)
    runtime = _runtime_flags()
    _add_synth(sub.add_parser("synth", help="generate the SynthMemes dataset"))
    v = sub.add_parser("validate", help="check every annotation and image; exit 1 on errors")
    v.add_argument("dir")
    v.add_argument("--no-images", action="store_true", help="skip opening the image files")
    _add_train(sub.add_parser("train", help="train a model and write a run folder", parents=[runtime]))
    e = sub.add_parser("evaluate", help="metrics of a run on a labelled split, optionally per group",
                       parents=[runtime, _data_flags("dev")], description=(
                           "Score a run on a labelled split (dev_seen, test_seen, ... when their files have labels): "
                           "AUROC, accuracy, macro-F1, precision, recall and confusion matrix at 0.5 and at the run's "
                           "tuned threshold, written to metrics.json and confusion_matrix.png; with --by, per group too."))
    e.add_argument("--report-dir", help="where metrics.json and confusion_matrix.png go (default RUN/eval-SPLIT)")
    e.add_argument("--by", metavar="FIELD", help=(
        "also report, per value of FIELD, the memes, false positive and negative rates and AUROC at the run's "
        "tuned threshold, and the group whose benign memes are flagged most often compared with all other memes "
        "(largest FPR gap). FIELD is a key of the annotation lines (e.g. gold_pc; a list puts a meme in each "
        "of its groups) or, in a SynthMemes folder, of meta.jsonl (e.g. group)"))
    pr = sub.add_parser("predict", help="score one meme", parents=[runtime])
    pr.add_argument("run")
    pr.add_argument("--image", required=True)
    pr.add_argument("--text", required=True)
    _add_explain(sub.add_parser("explain", help="explain one meme's score: words, picture, each modality's share",
                                parents=[runtime]))
    sb = sub.add_parser("submit", help="write the challenge's CSV (id,proba,label) for a split",
                        parents=[runtime, _data_flags("test")])
    sb.add_argument("--out", required=True)
    return p


def _runtime_flags() -> argparse.ArgumentParser:
    """--device and --precision, shared by train, evaluate, predict and submit."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--device", choices=DEVICES, help="auto (default): a CUDA GPU when there is one, else the CPU")
    flags.add_argument("--precision", choices=PRECISIONS, help="encoders' arithmetic (auto, the default: bf16 where supported)")
    return flags


def _data_flags(default_split: str) -> argparse.ArgumentParser:
    """RUN --data DIR --split NAME --skip-invalid, shared by evaluate and submit."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("run")
    flags.add_argument("--data", required=True)
    flags.add_argument("--split", default=default_split,
                       help=f"train, dev, test, dev_seen, test_seen, ... or a .jsonl file name in DATA (default {default_split})")
    flags.add_argument("--skip-invalid", action="store_true", help="leave out unusable rows instead of stopping")
    return flags


def _add_explain(x: argparse.ArgumentParser) -> None:
    x.description = ("Why RUN scores a meme as it does: each caption word's push towards hateful (integrated "
                     "gradients), where the picture pushes (Grad-CAM or occlusion), and P(hateful) with an empty "
                     "caption and with a neutral picture. Prints the words and shares; writes explanation.json "
                     "and explanation.png into --out. The run folder is only read.")
    x.add_argument("run")
    x.add_argument("--image", required=True)
    x.add_argument("--text", required=True)
    x.add_argument("--out", default=".", help="folder for explanation.json and explanation.png (default: the current "
                                              "folder; created if missing; never the run folder unless you name it)")
    x.add_argument("--method", choices=("gradcam", "occlusion"), default="gradcam",
                   help="heat map: gradcam (default, one backward pass) or occlusion (any image tower, slower)")
    x.add_argument("--steps", type=int, help="integration steps for the word scores (default memelib.explain.DEFAULT_STEPS)")
    x.add_argument("--counterfactual-text", help="also score the meme's picture under this caption")
    x.add_argument("--counterfactual-image", help="also score the meme's caption on this picture")


def _add_synth(s: argparse.ArgumentParser) -> None:
    from .captions import GROUPS
    from .synthetic import SynthConfig

    d = SynthConfig()  # the defaults, documented in data/README.md
    s.add_argument("dir")
    s.add_argument("--n-train", type=int, default=d.n_train)
    s.add_argument("--n-dev", type=int, default=d.n_dev)
    s.add_argument("--n-test-seen", type=int, default=d.n_test_seen, help="labelled held-out test memes")
    s.add_argument("--n-test", type=int, default=d.n_test, help="unlabelled test memes (what submit scores)")
    s.add_argument("--seed", type=int, default=d.seed)
    s.add_argument("--image-size", type=int, default=d.image_size, help="square side in pixels")
    s.add_argument("--label-noise", type=float, default=d.label_noise,
                   help=f"share of training labels flipped, as annotators disagree (default {d.label_noise}; 0: clean)")
    s.add_argument("--bias-group", default=d.bias_group, choices=[*GROUPS, "none"],
                   help=f"group over-represented among hateful training memes without a twin (default {d.bias_group}; "
                        "none: no bias)")
    s.add_argument("--bias-share", type=float, default=d.bias_share,
                   help=f"share of that group's training triplets whose benign twins are left out (default {d.bias_share})")


def _add_train(t: argparse.ArgumentParser) -> None:
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--preset", default="offline", choices=list(PRESETS))
    t.add_argument("--fusion", choices=FUSION_NAMES)
    mode = t.add_mutually_exclusive_group()
    mode.add_argument("--freeze", dest="freeze", action="store_true", default=None, help="frozen encoders, cached features")
    mode.add_argument("--finetune", dest="freeze", action="store_false", help="train the encoders too")
    t.add_argument("--epochs", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--train-split", default="train")
    t.add_argument("--dev-split", default="dev")
    t.add_argument("--text-model", help="Hugging Face id or local folder (overrides the preset)")
    t.add_argument("--clip-model", metavar="ID_OR_DIR", help=(
        "the CLIP checkpoint of the clip preset's two towers, a Hugging Face id or a local folder "
        "(default openai/clip-vit-large-patch14; e.g. openai/clip-vit-base-patch32)"))
    t.add_argument("--pooling", choices=POOLINGS)
    t.add_argument("--image-encoder", choices=IMAGE_ENCODER_NAMES)
    t.add_argument("--image-weights", help="imagenet, none, or a local .safetensors/.pth file")
    t.add_argument("--image-size", type=int)
    t.add_argument("--no-class-weights", dest="class_weights", action="store_false", default=None)
    t.add_argument("--cache-dir", help="feature cache folder (default $MEMELIB_CACHE_DIR or ~/.cache/memelib/features)")
    t.add_argument("--num-workers", type=int)
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--skip-invalid", action="store_true", help="leave out unusable rows (counted by reason) instead of stopping")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last completed epoch")


def _synth(a: argparse.Namespace) -> int:
    from .synthetic import SynthConfig, generate

    cfg = SynthConfig(n_train=a.n_train, n_dev=a.n_dev, n_test=a.n_test, seed=a.seed, image_size=a.image_size,
                      n_test_seen=a.n_test_seen, label_noise=a.label_noise, bias_share=a.bias_share,
                      bias_group=None if a.bias_group == "none" else a.bias_group)
    counts = generate(a.dir, cfg, progress=True)
    print(f"SynthMemes written to {a.dir}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


def _validate(a: argparse.Namespace) -> int:
    from .validation import validate

    report = validate(a.dir, check_images=not a.no_images)
    print(report.format())
    return 0 if report.ok else 1


def _train(a: argparse.Namespace) -> int:
    from .config import preset
    from .train import fit

    cfg = preset(
        a.preset, fusion__name=a.fusion, freeze=a.freeze, epochs=a.epochs, lr=a.lr, batch_size=a.batch_size,
        seed=a.seed, device=a.device, precision=a.precision, text__name=a.text_model, pooling=a.pooling, image__name=a.image_encoder,
        clip_model=a.clip_model,
        weights=a.image_weights, image_size=a.image_size, class_weights=a.class_weights, cache_dir=a.cache_dir,
        num_workers=a.num_workers,
    )
    fit(cfg, a.data, a.out, train_split=a.train_split, dev_split=a.dev_split, progress=not a.quiet,
        skip_invalid=a.skip_invalid, resume=a.resume)
    print(f"run written to {a.out}")
    return 0


def _evaluate(a: argparse.Namespace) -> int:
    import numpy as np

    from .files import write_json
    from .inference import Predictor
    from .annotations import group_values
    from .metrics import evaluation_report, format_group_report, format_report, group_report
    from .plots import save_confusion_matrix
    from .validation import load_split

    records = load_split(a.data, a.split, require_labels=False, skip_invalid=a.skip_invalid)
    if any(r.label is None for r in records):
        print(f"error: split {a.split!r} of {a.data} has memes without labels; use `memelib submit` for it", file=sys.stderr)
        return 2
    groups = group_values(records, a.by, a.data) if a.by else None  # before the model loads: a typo fails fast
    predictor = Predictor(a.run, device=a.device or "auto", precision=a.precision or "auto")
    probs = predictor.predict_records(records, a.data)
    labels = np.array([r.label for r in records])
    report = evaluation_report(labels, probs, predictor.threshold)
    summary = {"split": a.split, "data": str(a.data), **report}
    by_group = None if groups is None else group_report(labels, probs, groups, predictor.threshold)
    if by_group is not None:
        summary["by_group"] = {"field": a.by, **by_group.to_dict()}
    out = Path(a.report_dir or Path(a.run) / f"eval-{a.split}")
    write_json(out / "metrics.json", summary)
    png = save_confusion_matrix(report["at_tuned"]["confusion_matrix"], out / "confusion_matrix.png",
                                title=f"{a.split}, threshold {predictor.threshold:.3f}")
    print(format_report(report, title=f"{a.split} of {a.data}"))
    if by_group is not None:
        print("\n" + format_group_report(by_group, title=f"by {a.by} (at the tuned threshold)"))
    print(f"wrote {out / 'metrics.json'} and {png}")
    return 0


def _predict(a: argparse.Namespace) -> int:
    from .inference import Predictor

    predictor = Predictor(a.run, device=a.device or "auto", precision=a.precision or "auto")
    result = predictor.predict(a.image, a.text)
    print(json.dumps({"prob": round(result["prob"], 6), "label": result["label"]}))
    return 0


def _explain(a: argparse.Namespace) -> int:
    from .explain import DEFAULT_STEPS, explain
    from .files import write_json
    from .images import open_image
    from .inference import Predictor
    from .plots import plot_explanation

    image = open_image(a.image)  # a missing or unreadable image fails before the model loads
    other = None if a.counterfactual_image is None else open_image(a.counterfactual_image)
    predictor = Predictor(a.run, device=a.device or "auto", precision=a.precision or "auto")
    expl = explain(predictor, image, a.text, method=a.method, n_steps=a.steps or DEFAULT_STEPS,
                   counterfactual_text=a.counterfactual_text, counterfactual_image=other)
    print(f"P(hateful) {expl.prob:.3f}, label {expl.label} (threshold {predictor.threshold:.3f})")
    if expl.words is not None:
        print(f"words (integrated gradients on the hateful logit, {expl.steps} steps; they share out "
              f"{expl.gap:+.4f}, the caption's logit minus an all-[PAD] caption's, up to {expl.delta:+.2g}):")
        for word, score in zip(expl.words, expl.word_scores or []):
            print(f"  {word:<16} {score:+.4f}")
    names = {"meme": "the meme", "empty_caption": "an empty caption", "neutral_picture": "a neutral picture",
             "caption": f"your caption {a.counterfactual_text!r}", "picture": f"your picture {a.counterfactual_image}"}
    shares = {**expl.shares, **expl.counterfactual}
    print("P(hateful) of " + ", ".join(f"{names[k]} {'n/a' if v is None else f'{v:.3f}'}" for k, v in shares.items()))
    for note in expl.notes:
        print(f"note: {note}")
    out = Path(a.out)
    write_json(out / "explanation.json", {"run": str(a.run), "image": str(a.image), **expl.to_dict()})
    plot_explanation(expl, image).savefig(out / "explanation.png")
    print(f"wrote {out / 'explanation.json'} and {out / 'explanation.png'}")
    return 0


def _submit(a: argparse.Namespace) -> int:
    from .files import atomic_write_bytes
    from .inference import Predictor
    from .validation import load_split

    records = load_split(a.data, a.split, require_labels=False, skip_invalid=a.skip_invalid)
    predictor = Predictor(a.run, device=a.device or "auto", precision=a.precision or "auto")
    probs = predictor.predict_records(records, a.data)
    out = Path(a.out)
    buffer = io.StringIO(newline="")
    w = csv.writer(buffer, lineterminator="\n")
    w.writerow(["id", "proba", "label"])
    for r, p in zip(records, probs):
        w.writerow([r.id, f"{p:.6f}", int(p >= predictor.threshold)])
    atomic_write_bytes(out, buffer.getvalue().encode())
    print(f"wrote {len(records)} predictions to {out}")
    return 0


COMMANDS = {"synth": _synth, "validate": _validate, "train": _train, "evaluate": _evaluate, "predict": _predict,
            "explain": _explain, "submit": _submit}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `memelib` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (AnnotationError, DataError, CheckpointError, ModelUnavailableError, ImageError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
