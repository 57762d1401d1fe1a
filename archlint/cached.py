"""``cached``: a property computed once per instance, without functools' lock.

``functools.cached_property`` takes a lock on every first access in Python 3.11 (removed in
3.12, CPython gh-87634): about 1 us each, and a 100k-node model makes tens of thousands of
views whose signatures and slot tables are each read once (docs/performance.md). This is the
same descriptor without it: the first access computes the value and stores it in the
instance's ``__dict__``, where every later access finds it before the descriptor (it defines
no ``__set__``), as with functools'. It works on frozen dataclasses for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

__all__ = ["cached"]

T = TypeVar("T")


class cached(Generic[T]):
    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> T | cached[T]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value
