"""The projector's pause of the cyclic garbage collector around a batch."""

import gc

import pytest

from services.catalog.projector import collector_paused


@pytest.fixture(autouse=True)
def _collector_back_on():
    was = gc.isenabled()
    yield
    if was:
        gc.enable()


def test_the_collector_is_off_during_a_batch_and_on_again_after_it():
    gc.enable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_failing_batch_turns_the_collector_back_on():
    gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("batch failed")
    assert gc.isenabled()


def test_a_pause_someone_else_started_is_left_to_them():
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
