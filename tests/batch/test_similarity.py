"""df.ai.embed / similar / dedupe / join through the fake provider (word-hash vectors: texts that
share words are close), and the numpy pieces on hand-made vectors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import aikit
from aikit._batch.similarity import clusters, normalized, top_k
from aikit.exceptions import ConfigError
from aikit.testing import FakeProvider
from tests.batch.conftest import KEY as FAKE_KEY

TICKETS = pd.DataFrame(
    {
        "content": [
            "my invoice total is wrong again",
            "the export to csv times out",
            "my invoice total is wrong again please",
            "password reset email never arrives",
            "the export to csv times out every day",
        ]
    },
    index=["T1", "T2", "T3", "T4", "T5"],
)


@pytest.fixture
def ai(fake: FakeProvider) -> aikit.AI:
    return aikit.AI("compat:emb", base_url=fake.base_url, api_key=FAKE_KEY)


def test_clusters_link_rows_above_the_threshold() -> None:
    v = normalized(np.array([[1, 0, 0], [0, 1, 0], [0.98, 0.05, 0], [0, 0, 1], [0.05, 0.97, 0]]))
    assert clusters(v, 0.95).tolist() == [0, 1, 0, 2, 1]
    assert clusters(v, 1.01).tolist() == [0, 1, 2, 3, 4]
    assert top_k(v, v[1], 2).tolist() == [1, 4]


def test_embed_similar_dedupe_join(ai: aikit.AI, fake: FakeProvider) -> None:
    out = TICKETS.ai.embed("{content}", ai=ai)
    assert out["ai_embedding"].iloc[0].shape == (64,) and list(out.index) == list(TICKETS.index)
    hits = out.ai.similar("invoice total wrong", ai=ai, k=2)
    assert list(hits.index) == ["T1", "T3"] and hits["ai_similarity"].is_monotonic_decreasing
    groups = TICKETS.ai.dedupe("{content}", threshold=0.8, ai=ai, center=False)
    assert groups.loc["T1", "ai_cluster"] == groups.loc["T3", "ai_cluster"]
    assert groups.loc["T2", "ai_cluster"] == groups.loc["T5", "ai_cluster"]
    assert groups.loc["T4", "ai_cluster_size"] == 1 and groups["ai_cluster"].nunique() == 3
    requests = fake.stats()["by_path"]["/embeddings"]
    articles = pd.DataFrame({"content": ["How to fix a wrong invoice total", "CSV export times out"]})
    joined = TICKETS.ai.join(articles, "{content}", ai=ai)
    assert len(joined) == 5 and "content_right" in joined.columns
    assert joined.loc[0, "content_right"] == "How to fix a wrong invoice total"
    assert joined.loc[1, "content_right"] == "CSV export times out"
    strict = TICKETS.ai.join(articles, "{content}", ai=ai, threshold=0.99)
    assert strict.empty
    assert fake.stats()["by_path"]["/embeddings"] == requests + 1  # only the articles were new


def test_bad_arguments(ai: aikit.AI) -> None:
    with pytest.raises(ConfigError, match="embed first"):
        TICKETS.ai.dedupe(ai=ai)
    with pytest.raises(ConfigError, match="threshold"):
        TICKETS.ai.dedupe("{content}", threshold=2, ai=ai)
    with pytest.raises(ConfigError, match="on_similarity"):
        TICKETS.ai.join(TICKETS, ["{content}"], ai=ai)
    with pytest.raises(ConfigError, match="k must"):
        TICKETS.ai.similar("x", template="{content}", k=0, ai=ai)
