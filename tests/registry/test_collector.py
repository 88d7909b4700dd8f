import gc
import weakref
from collections.abc import Iterator

import pytest

from registry.collector import YOUNG_THRESHOLD, tune_for_serving


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_leave_the_collections_and_young_ones_are_collected_less_often() -> None:
    built_at_start_up = [[index] for index in range(1000)]
    middle, old = gc.get_threshold()[1:]

    tune_for_serving()

    assert gc.get_freeze_count() >= len(built_at_start_up)
    still_collected = {id(item) for item in gc.get_objects()}
    assert not any(id(item) in still_collected for item in built_at_start_up)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)


@pytest.mark.usefixtures("restored_collector")
def test_frozen_objects_are_still_freed_by_reference_counting() -> None:
    class StartUpState:
        pass

    state = StartUpState()
    gone = weakref.ref(state)
    tune_for_serving()

    del state

    assert gone() is None
