import pytest

from services.shared.producer_retirement import TESTED_AIOKAFKA, UntestedAiokafka, check_aiokafka


def test_the_installed_aiokafka_is_the_tested_one() -> None:
    check_aiokafka()  # the module's import ran it too; this names the expectation


def test_another_aiokafka_release_is_refused_with_the_version_to_install() -> None:
    with pytest.raises(UntestedAiokafka) as raised:
        check_aiokafka("0.15.0")
    assert "aiokafka 0.15.0 is installed" in str(raised.value)
    assert f"aiokafka=={TESTED_AIOKAFKA}" in str(raised.value)


def test_the_pin_in_pyproject_is_the_tested_release() -> None:
    from pathlib import Path

    pyproject = (Path(__file__).parents[3] / "pyproject.toml").read_text()
    assert '"aiokafka==0.14.0"' in pyproject and TESTED_AIOKAFKA == "0.14.0"
