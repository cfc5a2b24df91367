import hashlib

import pytest

from services.captions import model_setup
from services.captions.model_setup import CHECKED_MARKER, ModelSetupError, assemble


@pytest.fixture
def parts(tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "model.bin.part1").write_bytes(b"first-")
    (two / "model.bin.part2").write_bytes(b"second")
    for name in model_setup.MODEL_FILES:
        (two / name).write_text("{}")
    folders = dict(zip(model_setup.PART_PACKAGES, (one, two), strict=True))
    monkeypatch.setattr(model_setup, "_package_data", folders.__getitem__)
    return tmp_path


def test_joins_the_parts_and_checks_the_hash(parts):
    target = parts / "model"
    digest = hashlib.sha256(b"first-second").hexdigest()
    assert assemble(target, digest) == target
    assert (target / "model.bin").read_bytes() == b"first-second"
    assert {p.name for p in target.iterdir()} == {"model.bin", CHECKED_MARKER,
                                                  *model_setup.MODEL_FILES}


def test_a_wrong_hash_is_a_setup_error_and_leaves_no_model(parts):
    target = parts / "model"
    with pytest.raises(ModelSetupError, match="SHA-256"):
        assemble(target, "0" * 64)
    assert not target.exists() and not (parts / "model.partial").exists()


def test_the_pinned_hash_is_a_sha256():
    assert len(model_setup.MODEL_SHA256) == 64
    int(model_setup.MODEL_SHA256, 16)
