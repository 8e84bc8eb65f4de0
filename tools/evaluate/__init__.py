"""Measure what visitors get: held-out intent sets, a realistic set through the whole assistant,
cross-validation, and Rasa's stock pipeline beside ours.

Usage: ``python -m tools.evaluate`` (what ``make eval`` calls), options below. Writes
``results/eval/report.md`` and ``report.json``.

- ``data/eval/eval_set.yml`` and ``data/eval/test_set.yml``: intent-labelled, parsed in this
  process. A prediction is a *confident answer* when its intent has a fact and it passes the
  answer gate of actions/answer.py (the visitor gets that fact, not 「您是想问……」).
- ``data/eval/realistic_set.yml``: every case is a fresh conversation through the whole
  assistant (``python -m services.run`` with ``RASA_MODEL``: Rasa, action server, facts database);
  the outcome is read from the tracker (the fact that answered, the responses sent, the form's
  question) and judged against what the visitor should see (see the file's header).
- Rasa's cross-validation on data/nlu (``--folds``, default 5).
- The same with Rasa's stock pipeline on JiebaTokenizer (data/eval/baseline_config.yml): a whole
  model trained on the same domain, rules and stories, so only the NLU differs. Its
  cross-validation uses ``--baseline-folds`` (default 3: the stock DIET trains slowly); the
  report says how many folds each pipeline used.

For every set: accuracy, off-topic recall, in-scope messages answered as off-topic, and wrong
confident answers (a fact or verdict that is not an acceptable one: the worst kind), plus
per-cause figures for the realistic set and the issue #21 done-criteria.

The modules: ``cases`` (the sets, and the realistic set's cases), ``intents`` (the intent-labelled
sets scored in this process), ``judge`` (what the visitor saw, and whether it was right), ``stack`` (the
realistic set played through the whole assistant), ``baseline`` (the stock model, cross-validation),
``report`` (the done-criteria, the Markdown report); ``__main__`` runs them in turn.
"""

from tools.evaluate.cases import EVAL_SET, EVERY_FACT_SET, INTENT_SETS, NLU_DATA, TEST_SET, load_cases, read_examples
from tools.evaluate.intents import VARIATIONS, effective_intent, metrics, questions

# what the NLU gates and the normaliser's tests read: the sets, and the decision's view of a parse
__all__ = [
    "EVAL_SET",
    "EVERY_FACT_SET",
    "INTENT_SETS",
    "NLU_DATA",
    "TEST_SET",
    "VARIATIONS",
    "effective_intent",
    "load_cases",
    "metrics",
    "questions",
    "read_examples",
]
