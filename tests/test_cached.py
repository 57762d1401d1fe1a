"""archlint.cached: computed on first access, once, on frozen dataclasses too."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest

from archlint.cached import cached


@dataclass(frozen=True)
class _View:
    base: int
    calls: list[int]

    @cached
    def doubled(self) -> int:
        """Twice the base."""
        self.calls.append(self.base)
        return 2 * self.base


def test_the_value_is_computed_once_per_instance_and_kept_in_its_dict() -> None:
    calls: list[int] = []
    first, second = _View(3, calls), _View(5, calls)
    assert (first.doubled, first.doubled, second.doubled) == (6, 6, 10)
    assert calls == [3, 5]
    assert first.__dict__["doubled"] == 6


def test_the_instance_stays_frozen_and_equal_to_an_uncached_one() -> None:
    view = _View(3, [])
    assert view.doubled == 6
    with pytest.raises(FrozenInstanceError):
        view.base = 4  # type: ignore[misc]
    assert view == _View(3, [3])


def test_the_class_attribute_is_the_descriptor_with_the_function_doc() -> None:
    assert isinstance(_View.doubled, cached)
    assert _View.doubled.__doc__ == "Twice the base."
