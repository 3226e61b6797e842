"""One exception tree: every error class aikit defines derives from AIKitError and is drawn in the tree.

The walk imports every module of the package (the optional extras are installed in the test
environment), so a new ``class SomethingError(ValueError)`` anywhere fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import aikit
import aikit.exceptions
from aikit.exceptions import AIKitError, ConfigError, CRMError


def _defined_errors() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages(aikit.__path__, "aikit."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                found.append(obj)
    return found


def test_every_error_class_is_an_aikit_error_drawn_in_the_tree() -> None:
    tree = aikit.exceptions.__doc__ or ""
    errors = _defined_errors()
    assert len(errors) >= 20
    outside = [f"{e.__module__}.{e.__qualname__}" for e in errors if not issubclass(e, AIKitError)]
    assert not outside, f"not AIKitError subclasses: {outside}"
    undrawn = [
        e.__qualname__ for e in errors if e.__qualname__ not in tree and not e.__name__.startswith("_")
    ]
    assert not undrawn, f"missing from the tree in aikit/exceptions.py: {undrawn}"


def test_the_demo_crm_errors_are_crm_errors_with_status_and_category() -> None:
    from aikit.local.crm.search import SearchError, validate_filter_groups
    from aikit.local.crm.wire import StoreError

    error = StoreError(404, "OBJECT_NOT_FOUND", "No contacts object with id 7")
    assert isinstance(error, CRMError) and (error.status, error.category) == (404, "OBJECT_NOT_FOUND")
    with pytest.raises(SearchError) as info:
        validate_filter_groups([{"filters": [{"propertyName": "x", "operator": "NOPE"}]}])
    assert isinstance(info.value, ConfigError)


def test_a_rate_limit_below_one_is_a_config_error_where_it_is_given() -> None:
    from aikit.local.crm import DemoCRM

    for bad in (0, -5, 2.5, True):
        with pytest.raises(ConfigError, match="rate_limit"):
            aikit.HubSpot(token="pat-x", rate_limit=bad)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="rate_limit"):
            DemoCRM(rate_limit=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="window_s"):
        DemoCRM(window_s=0)
