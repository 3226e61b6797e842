"""``df.ai`` and ``ddf.ai`` appear when pandas or Dask DataFrames are imported; ``import aikit`` alone
imports neither.

Each case runs in a fresh interpreter, since what is imported is the point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from aikit.testing import FakeConfig, FakeProvider

pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def fake_config() -> FakeConfig:
    return FakeConfig(api_key="sk-hooks-test-5a6b7c", latency_median_s=0.002)


def _run(code: str, tmp_path: Path, **env: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AIKIT_HOME": str(tmp_path / "home"), **env},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_aikit_imports_neither_pandas_nor_dask(tmp_path: Path) -> None:
    result = _run(
        """
        import json, sys
        import aikit
        finders = [type(f).__name__ for f in sys.meta_path if type(f).__module__ == "aikit._hooks"]
        print(json.dumps({"loaded": sorted(m for m in ("pandas", "dask", "dask.dataframe", "aikit._batch",
                                                        "aikit.scale.dask") if m in sys.modules),
                          "finders": finders}))
        """,
        tmp_path,
    )
    assert result == {"loaded": [], "finders": ["_AccessorFinder"]}


def test_pandas_alone_gives_df_ai_and_leaves_dask_alone(tmp_path: Path) -> None:
    result = _run(
        """
        import json, sys
        import aikit, pandas as pd
        print(json.dumps({"df": type(pd.DataFrame({"a": [1]}).ai).__name__,
                          "dask": "dask" in sys.modules or "aikit.scale.dask" in sys.modules}))
        """,
        tmp_path,
    )
    assert result == {"df": "AIAccessor", "dask": False}


@pytest.mark.parametrize("order", ["aikit first", "dask first"])
def test_ddf_ai_works_without_importing_aikit_scale_dask(
    order: str, fake: FakeProvider, fake_config: FakeConfig, tmp_path: Path
) -> None:
    first, second = (
        ("aikit", "dask.dataframe as dd") if order == "aikit first" else ("dask.dataframe as dd", "aikit")
    )
    imports = f"import {first}; import {second}"
    result = _run(
        f"""
        import json, os
        {imports}
        import pandas as pd
        from aikit._batch.api import set_default_ai

        set_default_ai(aikit.AI("compat:fake-model", base_url=os.environ["FAKE_URL"],
                                api_key=os.environ["FAKE_KEY"]))
        df = pd.DataFrame({{"t": [f"row {{i}}" for i in range(6)]}})
        ddf = dd.from_pandas(df, npartitions=2)
        lazy = ddf.ai.map("Say {{t}}", into="answer", max_tokens=5)
        with __import__("dask").config.set(scheduler="sync"):
            out = lazy.ai.compute(progress=False)
        print(json.dumps({{"accessor": type(ddf.ai).__name__, "answers": int(out["answer"].notna().sum()),
                          "errors": out["ai_error"].dropna().tolist(), "rows": lazy.ai.summary()["rows"]}}))
        """,
        tmp_path,
        FAKE_URL=fake.base_url,
        FAKE_KEY=str(fake_config.api_key),
    )
    assert result == {"accessor": "DaskAIAccessor", "answers": 6, "errors": [], "rows": 6}
    assert fake.stats()["requests"] == 6
