"""Set-up files agree with each other, and importing memelib does nothing."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch", "pillow": "pillow"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].strip().lower()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    text = (ROOT / "environment.yml").read_text()
    listed = {_name(line.strip()[2:]) for line in text.splitlines() if line.strip().startswith("- ")}
    missing = {w for w in wanted if CONDA_NAMES.get(w, w) not in listed}
    assert not missing, f"environment.yml lacks {sorted(missing)}"


def test_import_is_light_and_silent():
    code = "import sys, memelib; print(sorted(m for m in ('torch', 'transformers', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]" and out.stderr == ""


def test_public_names_resolve():
    import memelib

    for name in memelib.__all__:
        assert getattr(memelib, name) is not None


def test_data_and_artifacts_hold_only_readme_and_gitignore_in_git():
    files = subprocess.run(["git", "ls-files", "data", "artifacts"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert sorted(files) == ["artifacts/.gitignore", "artifacts/README.md", "data/.gitignore", "data/README.md"] or not files


def test_every_subpackage_is_packaged():
    """A non-editable install (pip install .) ships only the packages pyproject lists."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "memelib").rglob("__init__.py")}
    assert found == listed, f"pyproject's packages {sorted(listed)} differ from the folders {sorted(found)}"
