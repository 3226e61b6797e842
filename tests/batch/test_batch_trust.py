"""Labels an analyst can trust, over loopback to the fake provider: confidence, examples, evaluation, review.

The fake answers label requests from a keyword "model" with token log-probabilities
(:mod:`aikit.testing.fake_logprobs`): a text naming a label's words gets that label, confidently; a
text naming none gets a flat, doubtful distribution. That makes the outcomes below predictable without
hard-coding them in aikit.
"""

from __future__ import annotations

import math
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aikit._batch.evaluate import evaluate
from aikit._batch.neighbours import nearest, subject_line
from aikit._batch.review import ReviewStore, review
from aikit._batch.scoring import label_probabilities
from aikit.client import AI
from aikit.exceptions import ConfigError
from aikit.testing import FakeProvider

LABELS = ["BILLING_ISSUE", "PRODUCT_ISSUE", "GENERAL_INQUIRY"]


@pytest.fixture
def tickets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["1", "2", "3", "4"],
            "subject": ["Billing wrong", "Product crash", "Hello", "Invoice"],
            "content": [
                "my billing is wrong",
                "the product has an issue",
                "nice weather",
                "general inquiry on billing",
            ],
            "gold": ["BILLING_ISSUE", "PRODUCT_ISSUE", "GENERAL_INQUIRY", "GENERAL_INQUIRY"],
        },
        index=[10, 11, 12, 13],
    )


def test_classify_scores_every_row_from_logprobs(ai: AI, fake: FakeProvider, tickets: pd.DataFrame) -> None:
    out = tickets.ai.classify("{subject}\n{content}", labels=LABELS, ai=ai, into="cat", progress=False)
    assert list(out.columns)[-3:] == ["cat", "cat_confidence", "ai_error"]
    assert out.loc[10, "cat"] == "BILLING_ISSUE" and out.loc[11, "cat"] == "PRODUCT_ISSUE"
    conf = out["cat_confidence"]
    assert conf.between(0, 1).all()
    # a text naming its label's words is far surer than one naming none
    assert conf[10] > 0.7 and conf[11] > 0.7 and conf[12] < 0.5
    assert out.attrs["aikit"]["scoring"] == "generate"
    assert 0 < out.attrs["aikit"]["median_label_mass"] < 1


def test_anthropic_gets_no_invented_confidence(
    fake: FakeProvider, tmp_path: Path, tickets: pd.DataFrame
) -> None:
    from tests.batch.conftest import KEY

    with AI("anthropic:claude-x", base_url=fake.base_url, api_key=KEY, cache=False) as ai:
        out = tickets.ai.classify("{content}", labels=LABELS, ai=ai, into="cat", progress=False)
    assert out["cat"].isin(LABELS).all()
    assert out["cat_confidence"].isna().all()
    assert out.attrs["aikit"]["scoring"] == "none"


def test_examples_frame_gives_nearest_rows_and_their_vote(ai: AI, fake: FakeProvider) -> None:
    history = pd.DataFrame(
        {
            "subject": [
                "Refund",
                "Card charged",
                "App down",
                "Crash on save",
                "Where is data",
                "Same subject",
            ],
            "content": [
                "refund the invoice",
                "invoice charged twice",
                "app crashes",
                "crash when saving",
                "where is our data hosted",
                "invoice invoice invoice",
            ],
            "cat": [
                "BILLING_ISSUE",
                "BILLING_ISSUE",
                "PRODUCT_ISSUE",
                "PRODUCT_ISSUE",
                "GENERAL_INQUIRY",
                "GENERAL_INQUIRY",
            ],
        },
        index=[1, 2, 3, 4, 5, 6],
    )
    rows = pd.DataFrame({"subject": ["Same subject"], "content": ["invoice question"]}, index=[6])
    out = rows.ai.classify(
        "{subject}\n{content}", labels=LABELS, ai=ai, into="cat", examples=history, k=2, progress=False
    )
    # row 6 is excluded twice over (same index, same subject): the vote comes from the two invoice tickets
    assert out.loc[6, "cat_vote"] == "BILLING_ISSUE" and out.loc[6, "cat_vote_share"] == 1.0
    assert "cat_confidence" in out.columns and out.attrs["aikit"]["examples"] == "frame"
    with pytest.raises(ConfigError, match="not in labels"):
        rows.ai.classify("{subject}", labels=LABELS[:2], ai=ai, into="cat", examples=history)
    with pytest.raises(ConfigError, match="label column 'category'"):
        rows.ai.classify("{subject}", labels=LABELS, ai=ai, into="category", examples=history)


def test_nearest_never_returns_itself_or_a_same_subject_row() -> None:
    pool = ["Subject: Refund\nplease refund", "Subject: Refund\nrefund now", "Subject: Crash\nrefund crash"]
    near = nearest(["Subject: Refund\nplease refund"], pool, k=3)
    assert near == [[2]]
    assert subject_line("\n  Re:  X ") == "re: x"


def test_label_probabilities_sum_label_prefix_tokens() -> None:
    tops = [
        {"token": "B", "logprob": math.log(0.3)},
        {"token": "BILL", "logprob": math.log(0.3)},
        {"token": "P", "logprob": math.log(0.2)},
        {"token": "x", "logprob": math.log(0.1)},
    ]
    probs, mass = label_probabilities(
        [{"token": "B", "logprob": 0, "top_logprobs": tops}], ["BILL", "PROD", "GEN"], prefilled=True
    )
    assert probs is not None
    assert probs[0] == pytest.approx(0.6 / 0.9) and probs[2] == pytest.approx(0.1 / 0.9)  # GEN gets the floor
    assert mass == pytest.approx(0.8)
    assert label_probabilities(None, ["a", "b"]) == (None, 0.0)


def test_evaluate_reports_accuracy_interval_confusion_and_coverage() -> None:
    rng = np.random.default_rng(1)
    gold = rng.choice(["a", "b", "c"], size=200, p=[0.5, 0.3, 0.2])
    conf = rng.random(200)
    pred = np.where(conf > 0.5, gold, "a")  # right when confident, else always "a"
    df = pd.DataFrame(
        {"p": pd.Categorical(pred, categories=["a", "b", "c"]), "g": gold, "p_confidence": conf}
    )
    ev = df.ai.evaluate(pred="p", gold="g")
    assert ev.n == 200 and ev.accuracy == pytest.approx(float(np.mean(pred == gold)))
    lo, hi = ev.accuracy_ci
    assert lo < ev.accuracy < hi and hi - lo < 0.2
    assert int(ev.confusion.to_numpy().sum()) == 200 and ev.confusion.loc["b", "a"] > 0
    assert ev.per_label.loc["a", "support"] == int(np.sum(gold == "a"))
    table = ev.by_confidence()
    top = table[table["threshold"] >= 0.5]
    assert (top["accuracy"] == 1.0).all()  # above 0.5 it is always right, by construction
    assert table.iloc[0]["coverage"] == 1.0
    assert ev.threshold_for(0.99) is not None and ev.threshold_for(0.99) >= 0.5
    assert "Confusion" in ev._repr_html_() and "By confidence" in ev._repr_html_()
    assert ev.plot().get_title().startswith("Agreement")


def test_evaluate_says_when_the_model_adds_nothing_and_when_it_is_not_reliable() -> None:
    df = pd.DataFrame({"p": ["a", "a", "a", "b"], "g": ["a", "a", "b", "b"], "p_vote": ["a", "a", "b", "b"]})
    ev = evaluate(df, "p", "g", resamples=100)
    assert ev.vote_accuracy == 1.0 and ev.adds_over_vote is False
    assert any("added nothing" in n for n in ev.notes())
    flat = evaluate(
        pd.DataFrame({"p": ["a", "b", "a", "b"], "g": ["a", "a", "a", "b"]}), "p", "g", resamples=50
    )
    assert not flat.reliable and any("Not reliable" in n for n in flat.notes())


def test_evaluate_bad_input_names_the_columns() -> None:
    df = pd.DataFrame({"p": ["a", "b", "a"], "g": ["a", "z", None]}, index=[1, 2, 3])
    ev = evaluate(df, "p", "g", labels=["a", "b"], resamples=50)
    assert ev.unknown_gold == {"z": 1} and ev.missing_gold == 1 and ev.n == 1
    assert any("outside the label set" in n for n in ev.notes())
    with pytest.raises(ConfigError, match="no gold column 'gold'"):
        evaluate(df, "p", "gold")
    with pytest.raises(ConfigError, match="not aligned with the rows of 'p'"):
        evaluate(df, "p", pd.Series(["a", "b"], index=[1, 9], name="known"))
    assert evaluate(df, "p", pd.Series(["a", "b", "a"], index=[3, 2, 1], name="known"), resamples=10).n == 3
    with pytest.raises(ConfigError, match="all missing"):
        evaluate(df.assign(g=None), "p", "g")


def test_review_keeps_decisions_in_a_private_store_across_restarts(
    aikit_home: Path, tickets: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    df = tickets.assign(
        cat=pd.Categorical(
            ["BILLING_ISSUE", "PRODUCT_ISSUE", "BILLING_ISSUE", "PRODUCT_ISSUE"], categories=LABELS
        ),
        cat_confidence=[0.95, 0.4, 0.2, float("nan")],
    )
    rv = df.ai.review("cat", threshold=0.8)
    assert [item.row_id for item in rv.pending()] == ["4", "3", "2"]  # no confidence first, then lowest
    rv.decide("3", "GENERAL_INQUIRY")
    rv.skip("4")
    with pytest.raises(ConfigError, match="not one of the labels"):
        rv.decide("2", "SPAM")
    with pytest.raises(ConfigError, match="not among the rows"):
        rv.decide("1", "BILLING_ISSUE")
    # a new Review on the same store (what a kernel restart gives) sees the decisions
    again = df.ai.review("cat", threshold=0.8)
    assert [item.row_id for item in again.pending()] == ["2"]
    fixed = again.apply(df)
    assert fixed["cat"].tolist() == ["BILLING_ISSUE", "PRODUCT_ISSUE", "GENERAL_INQUIRY", "PRODUCT_ISSUE"]
    assert fixed["cat_ok"].tolist() == [True, False, True, False]
    assert fixed["cat_reviewed"].tolist() == [False, False, True, False]
    again._ipython_display_()  # headless: says what waits, never blocks
    assert "1 awaiting review" in capsys.readouterr().out
    path = aikit_home / "review.sqlite"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM decisions").fetchone()[0] == 2


def test_review_asks_for_an_id_column(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": ["a"], "cat": ["x"], "cat_confidence": [0.1]})
    with pytest.raises(ConfigError, match="row id column"):
        review(df, "cat", store=tmp_path / "r.sqlite")
    with pytest.raises(ConfigError, match="no confidence column"):
        review(df.drop(columns="cat_confidence"), "cat", id="text", store=ReviewStore(tmp_path / "r.sqlite"))


def test_example_group_keeps_a_rows_own_group_out_of_its_examples(ai: AI, fake: FakeProvider) -> None:
    history = pd.DataFrame(
        {
            "content": ["invoice refund please", "invoice charged twice", "app crashes on save"],
            "cat": ["BILLING_ISSUE", "BILLING_ISSUE", "PRODUCT_ISSUE"],
            "thread": ["t1", "t1", "t2"],
        }
    )
    rows = pd.DataFrame({"content": ["invoice refund"], "thread": ["t1"]})
    out = rows.ai.classify(
        "{content}",
        labels=LABELS,
        ai=ai,
        into="cat",
        examples=history,
        k=1,
        example_group="thread",
        progress=False,
    )
    assert out.loc[0, "cat_vote"] == "PRODUCT_ISSUE"  # the only example outside thread t1
    with pytest.raises(ConfigError, match="example_group='customer'"):
        rows.ai.classify(
            "{content}", labels=LABELS, ai=ai, into="cat", examples=history, example_group="customer"
        )


def test_embedding_vote_answers_without_a_chat_call(ai: AI, fake: FakeProvider) -> None:
    history = pd.DataFrame(
        {
            "text": ["the invoice was charged twice", "refund my invoice", "the app crashes on start",
                     "crash when saving a file", "where is the data hosted"],
            "cat": ["BILLING_ISSUE", "BILLING_ISSUE", "PRODUCT_ISSUE", "PRODUCT_ISSUE", "GENERAL_INQUIRY"],
        },
        index=[1, 2, 3, 4, 5],
    )  # fmt: skip
    rows = pd.DataFrame({"text": ["my invoice was charged wrong", "app crashes when saving"]}, index=[10, 11])
    out = rows.ai.classify(
        "{text}", labels=LABELS, ai=ai, into="cat", examples=history, k=2, similarity="embed",
        answer="vote", progress=False,
    )  # fmt: skip
    assert out["cat"].tolist() == ["BILLING_ISSUE", "PRODUCT_ISSUE"]
    assert out["cat_confidence"].tolist() == [1.0, 1.0] and out["ai_error"].isna().all()
    paths = fake.stats()["by_path"]
    assert "/chat/completions" not in paths and paths.get("/embeddings") == 1  # one batched embed request
    assert out.attrs["aikit"]["similarity"] == "embed" and out.attrs["aikit"]["calls"] == 0
    # leave-one-out on the labelled frame itself: a row never votes for itself
    loo = history.ai.classify("{text}", labels=LABELS, ai=ai, into="p", examples=history, example_label="cat",
                              k=1, similarity="embed", answer="vote", progress=False)  # fmt: skip
    assert loo.loc[5, "p"] != "GENERAL_INQUIRY"  # its only same-label row is itself
    with pytest.raises(ConfigError, match="needs examples="):
        rows.ai.classify("{text}", labels=LABELS, ai=ai, answer="vote")
    with pytest.raises(ConfigError, match="similarity must be one of"):
        rows.ai.classify("{text}", labels=LABELS, ai=ai, into="cat", examples=history, similarity="bm25")
