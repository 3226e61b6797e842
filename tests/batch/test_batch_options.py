"""BatchOptions: one validated value object, and every entry point taking it as options= or keywords."""

from __future__ import annotations

import dataclasses
import math
import pickle
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

import aikit
from aikit._batch.accessor import CLASSIFY, EXTRACT, MAP
from aikit._batch.api import batch, estimate
from aikit._batch.options import BatchOptions
from aikit.client import AI
from aikit.exceptions import ConfigError
from aikit.testing import FakeProvider, fake_reply

MODEL = "fake-model"


def calls(fake: FakeProvider) -> int:
    return int(fake.stats()["by_path"].get("/chat/completions", 0))


def test_a_frozen_value_with_equality_a_short_repr_and_pickling() -> None:
    opts = BatchOptions(temperature=0, concurrency=4, cache=False, params={"seed": 7})
    assert opts == BatchOptions(concurrency=4, temperature=0, cache="off", params={"seed": 7})
    assert opts != BatchOptions(temperature=0, concurrency=4, cache="off")
    assert repr(opts) == "BatchOptions(temperature=0, concurrency=4, cache='off', params={'seed': 7})"
    assert repr(BatchOptions()) == "BatchOptions()"
    assert hash(BatchOptions(max_tokens=3)) == hash(BatchOptions(max_tokens=3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.temperature = 1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(opts)) == opts  # shipped to Dask workers
    assert opts.replace(concurrency=8).concurrency == 8 and opts.concurrency == 4
    assert aikit.BatchOptions is BatchOptions and "BatchOptions" in aikit.__all__


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"on_error": "ignore"}, "on_error"),
        ({"cache": "sometimes"}, "cache"),
        ({"cache": 1}, "cache"),
        ({"budget_usd": -1}, "budget_usd"),
        ({"budget_usd": math.nan}, "budget_usd"),
        ({"budget_usd": "5"}, "budget_usd"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"concurrency": 2.5}, "concurrency"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": "hot"}, "temperature"),
        ({"system": 42}, "system"),
        ({"with_meta": "yes"}, "with_meta"),
        ({"progress": "fancy"}, "progress"),
        ({"params": {"system": "x"}}, "system"),
        ({"params": {"observer": print}}, "observer"),
    ],
)
def test_bad_values_are_refused_at_construction(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        BatchOptions(**changes)
    with pytest.raises(ConfigError, match=fragment):
        BatchOptions().replace(**changes)


def test_cache_true_means_use_and_false_means_off() -> None:
    assert BatchOptions(cache=True).cache == "use" and BatchOptions(cache=False).cache == "off"
    assert BatchOptions(cache=True) == BatchOptions()
    for mode in ("use", "refresh", "read_only", "off"):
        assert BatchOptions(cache=mode).cache == mode  # type: ignore[arg-type]


def test_operation_defaults_then_options_then_keywords() -> None:
    _, opts = CLASSIFY.bind(("{t}", ["a", "b"]), {"options": BatchOptions(concurrency=2)})
    assert (opts.temperature, opts.concurrency) == (0, 2)  # classify's own default survives options=
    _, opts = CLASSIFY.bind(("{t}", ["a", "b"]), {"options": BatchOptions(temperature=0.5)})
    assert opts.temperature == 0.5
    _, opts = CLASSIFY.bind(
        ("{t}", ["a", "b"]), {"temperature": None, "options": BatchOptions(temperature=1)}
    )
    assert opts.temperature is None  # a keyword always wins
    own, opts = MAP.bind(("{t}",), {"into": "x", "max_tokens": 9, "top_p": 0.5, "options": BatchOptions(
        max_tokens=3, params={"seed": 1})})  # fmt: skip
    assert own == {"template": "{t}", "into": "x"}
    assert opts == BatchOptions(max_tokens=9, params={"seed": 1, "top_p": 0.5})
    _, opts = EXTRACT.bind(("{t}", {"type": "object"}), {})
    assert opts.temperature == 0
    with pytest.raises(ConfigError, match="options="):
        MAP.bind(("{t}",), {"options": {"max_tokens": 3}})
    with pytest.raises(ConfigError, match="cache"):
        MAP.bind(("{t}",), {"cache": "sometimes"})


def test_per_call_cache_false_is_off_and_true_is_use(ai: AI, fake: FakeProvider) -> None:
    prompts = [f"cache flag {i}" for i in range(6)]
    off = batch(prompts, ai=ai, cache=False, progress=False)
    assert calls(fake) == 6 and all(r.ok and not r.response.cached for r in off)  # type: ignore[union-attr]
    batch(prompts, ai=ai, cache=True, progress=False)  # "off" wrote nothing: called again, and stored
    assert calls(fake) == 12
    again = batch(prompts, ai=ai, options=BatchOptions(cache=True), progress=False)
    assert calls(fake) == 12 and again.summary()["cached"] == 6
    batch(prompts, ai=ai, options=BatchOptions(cache=False), progress=False)
    assert calls(fake) == 18
    assert (
        estimate(prompts, ai=ai, cache=False).calls == 6 and estimate(prompts, ai=ai, cache=True).calls == 0
    )
    df = pd.DataFrame({"t": prompts})
    out = df.ai.map("{t}", ai=ai, cache=False, with_meta=True, progress=False)
    assert calls(fake) == 24 and not out["ai_cached"].any()
    cached = df.ai.map("{t}", ai=ai, cache=True, with_meta=True, progress=False)
    assert calls(fake) == 24 and cached["ai_cached"].all()


def test_options_object_and_keywords_reach_every_call(ai: AI, fake: FakeProvider) -> None:
    opts = BatchOptions(system="Be brief.", max_tokens=5, progress=False)
    res = batch(["hello"], ai=ai, options=opts)
    want = fake_reply(
        MODEL, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
    )
    assert res.texts == [want]
    res = batch(["hello"], ai=ai, options=opts, system="Be kind.")  # the keyword wins
    kind = fake_reply(
        MODEL, [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "hello"}]
    )
    assert res.texts == [kind]
    out = pd.DataFrame({"t": ["hello"]}).ai.map("{t}", ai=ai, options=opts, into="answer")
    assert out["answer"].tolist() == [want] and out.attrs["aikit"]["system"] == "Be brief."
    assert calls(fake) == 2  # the third call was the first one's cache hit


def test_bad_options_raise_before_any_call(make_ai: Callable[..., AI], fake: FakeProvider) -> None:
    ai = make_ai()
    df = pd.DataFrame({"t": ["a"]})
    for call in (
        lambda: batch(["a"], ai=ai, concurrency=0),
        lambda: df.ai.map("{t}", ai=ai, budget_usd=-2),
        lambda: df.ai.classify("{t}", ["x", "y"], ai=ai, on_error="skip"),
        lambda: df.ai.estimate("{t}", ai=ai, cache="maybe"),
    ):
        with pytest.raises(ConfigError):
            call()
    assert calls(fake) == 0
