"""help() and Shift-Tab show every argument: each sync/async pair has one generated signature and doc."""

from __future__ import annotations

import dataclasses
import inspect
import pydoc
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

import aikit
from aikit._batch import api
from aikit._batch.options import FRAME_OPTIONS, REQUEST_OPTIONS, RUN_OPTIONS, BatchOptions

ALL = (*REQUEST_OPTIONS, *RUN_OPTIONS, *FRAME_OPTIONS)
DF = pd.DataFrame({"t": ["a"]})

#: (sync, async, its own arguments, the options it takes)
PAIRS: list[tuple[Callable[..., Any], Callable[..., Any], tuple[str, ...], tuple[str, ...]]] = [
    (aikit.batch, aikit.abatch, ("prompts", "ai", "schema", "client"), (*REQUEST_OPTIONS, *RUN_OPTIONS)),
    (api.estimate, api.aestimate, ("prompts", "ai", "schema"), (*REQUEST_OPTIONS, "cache", "mode")),
    (DF.ai.map, DF.ai.amap, ("template", "ai", "schema", "into"), ALL),
    (
        DF.ai.classify,
        DF.ai.aclassify,
        (
            "template",
            "labels",
            "ai",
            "into",
            "examples",
            "example_label",
            "example_group",
            "k",
            "similarity",
            "answer",
            "task",
        ),
        ALL,
    ),
    (DF.ai.extract, DF.ai.aextract, ("template", "schema", "ai"), ALL),
    (DF.ai.estimate, DF.ai.aestimate, ("template", "ai", "schema"), (*REQUEST_OPTIONS, "cache", "mode")),
]


@pytest.mark.parametrize(
    ("sync", "asynchronous", "own", "options"), PAIRS, ids=lambda v: getattr(v, "__name__", "")
)
def test_each_pair_has_one_full_signature(
    sync: Callable[..., Any], asynchronous: Callable[..., Any], own: tuple[str, ...], options: tuple[str, ...]
) -> None:
    sig = inspect.signature(sync)
    assert sig == inspect.signature(asynchronous)
    assert inspect.iscoroutinefunction(asynchronous) and not inspect.iscoroutinefunction(sync)
    assert asynchronous.__name__ == "a" + sync.__name__
    names = list(sig.parameters)
    assert names == [*own, *options, "options", "params"]  # no `self`, no bare **kwargs
    kinds = {name: p.kind for name, p in sig.parameters.items()}
    assert all(kinds[name] is inspect.Parameter.KEYWORD_ONLY for name in (*options, "options"))
    assert kinds["params"] is inspect.Parameter.VAR_KEYWORD
    assert sig.parameters["cache"].default == "use"


@pytest.mark.parametrize(
    ("sync", "asynchronous", "own", "options"), PAIRS, ids=lambda v: getattr(v, "__name__", "")
)
def test_each_pair_documents_every_argument(
    sync: Callable[..., Any], asynchronous: Callable[..., Any], own: tuple[str, ...], options: tuple[str, ...]
) -> None:
    doc, adoc = inspect.getdoc(sync) or "", inspect.getdoc(asynchronous) or ""
    for text in (doc, adoc):
        lines = text.splitlines()
        assert "Parameters" in lines and "Returns" in lines
        for name in (*own, *options, "options"):
            assert any(line.startswith((f"{name} :", f"{name}, ")) for line in lines), (sync.__name__, name)
        assert "**params" in lines
    assert "await" in adoc and "await" not in doc
    rendered = pydoc.render_doc(sync, renderer=pydoc.plaintext)
    assert "Parameters" in rendered and all(f"{name}: " in rendered for name in options)


def test_defaults_are_each_operations_own() -> None:
    assert inspect.signature(DF.ai.classify).parameters["temperature"].default == 0
    assert inspect.signature(DF.ai.extract).parameters["temperature"].default == 0
    assert inspect.signature(DF.ai.map).parameters["temperature"].default is None
    assert "temperature : float, default 0" in (inspect.getdoc(DF.ai.classify) or "")
    assert "temperature : float, optional" in (inspect.getdoc(DF.ai.map) or "")


def test_every_batch_option_appears_in_the_signatures() -> None:
    fields = [f.name for f in dataclasses.fields(BatchOptions) if f.name != "params"]
    assert list(ALL) == fields  # a new field is a new option everywhere (or a deliberate scope choice)
    assert [n for n in inspect.signature(DF.ai.map).parameters if n in fields] == fields


def test_help_of_the_accessor_class_lists_the_methods() -> None:
    text = pydoc.render_doc(type(DF.ai), renderer=pydoc.plaintext)
    for name in ("map", "amap", "classify", "aclassify", "extract", "aextract", "estimate", "aestimate"):
        assert f"{name}(self, template" in text, name


def test_wrong_arguments_are_python_type_errors_naming_the_call() -> None:
    with pytest.raises(TypeError, match=r"df\.ai\.classify\(\).*labels"):
        DF.ai.classify("{t}")
    with pytest.raises(TypeError, match=r"aikit\.batch\(\).*positional"):
        aikit.batch(["a"], None, None)


def test_ddf_ai_has_the_pandas_signatures() -> None:
    dd = pytest.importorskip("dask.dataframe")
    ddf = dd.from_pandas(DF, npartitions=1)
    for name in ("map", "classify", "extract"):
        lazy, eager = inspect.signature(getattr(ddf.ai, name)), inspect.signature(getattr(DF.ai, name))
        assert lazy.replace(return_annotation=None) == eager.replace(return_annotation=None), name
        assert "budget_usd" in (inspect.getdoc(getattr(ddf.ai, name)) or "")
