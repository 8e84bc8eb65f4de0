"""The stock pipeline the evaluation compares with (tools/evaluate/baseline.py)."""

from __future__ import annotations

import yaml

from bot.settings import PROJECT_ROOT
from tools.evaluate import cases as sets

# ------------------------------------------------------------------ the stock baseline


def test_the_stock_baseline_is_rasas_recommended_pipeline_on_jieba_with_our_policies():
    stock = yaml.safe_load(sets.BASELINE_CONFIG.read_text(encoding="utf-8"))
    ours = yaml.safe_load((PROJECT_ROOT / "bot" / "config.yml").read_text(encoding="utf-8"))
    names = [c["name"] for c in stock["pipeline"]]
    assert stock["language"] == "zh"
    assert names[0] == "JiebaTokenizer" and "dictionary_path" not in stock["pipeline"][0]
    assert not [n for n in names if n.startswith("bot.")], "no project component in the baseline"
    assert {"DIETClassifier", "FallbackClassifier", "CountVectorsFeaturizer"} <= set(names)
    assert stock["policies"] == ours["policies"], "only the NLU may differ"
