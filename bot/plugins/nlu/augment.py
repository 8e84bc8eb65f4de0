"""Rasa NLU component: train on questions with the story visitors tell around them.

Visitors rarely ask a bare question: 「公司在浦东张江，客户都在本市，许可证去哪里申请」. Most training
examples are bare, and the few long situational ones belong to a handful of intents, so the model
learned that a long message with a city in it is the registered-capital question. When the model is
trained, this component adds, for a share of the question examples, a copy with a context from
bot/lexicon/contexts.yml before or after it (or both). The choice is a hash of the example, so a
training is as reproducible as before. The copies are marked ``augmented``: the retrieval second
opinion leaves them out of its index (they would make every message with the same story alike).
At run time it does nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict, List, Sequence, Text

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.settings import PROJECT_ROOT

AUGMENTED = "augmented"
DEFAULT_CONTEXTS = PROJECT_ROOT / "bot" / "lexicon" / "contexts.yml"
# what is not a question: a context around it changes what it says (「好的」, 「只做省内」, 「那全网呢」)
NOT_QUESTIONS = (
    "affirm",
    "deny",
    "stop",
    "greet",
    "goodbye",
    "thank",
    "bot_challenge",
    "request_human",
    "request_consultant",
    "inform",
    "ask_followup",
)


def load_contexts(path: Path | str) -> tuple[List[str], List[str]]:
    """Read the contexts file: (what comes before a question, what comes after)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    before = [str(c).strip() for c in data.get("before") or [] if str(c).strip()]
    after = [str(c).strip() for c in data.get("after") or [] if str(c).strip()]
    if not before or not after:
        raise ValueError(f"{path}: needs a non-empty 'before' and 'after' list")
    return before, after


def _draw(text: str, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}\0{text}".encode()).digest()[:8], "big")


def is_latin(text: str) -> bool:
    """An English question (「how long does approval take」): a Chinese story around it is no visitor's."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) * 2 > len(letters)


def with_context(text: str, before: Sequence[str], after: Sequence[str], share: float) -> str | None:
    """The question with a context around it, or None when this example gets no copy (1 − ``share``)."""
    if _draw(text, "share") % 1000 >= share * 1000:
        return None
    pre = before[_draw(text, "before") % len(before)]
    post = after[_draw(text, "after") % len(after)]
    shape = _draw(text, "shape") % 4
    if shape == 0:
        return f"{pre}，{text}"
    if shape == 1:
        return f"{pre}{text}"  # the run-on of a chat box, no comma
    if shape == 2:
        return f"{text}，{post}"
    return f"{pre}，{text}，{post}"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class ContextAugmenter(GraphComponent):
    """Add question examples with a visitor's story around them to the training data."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"contexts": str(DEFAULT_CONTEXTS), "share": 0.5, "not_questions": list(NOT_QUESTIONS)}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._config = config

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ContextAugmenter:
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        before, after = load_contexts(self._config["contexts"])
        share = float(self._config["share"])
        skip = set(self._config["not_questions"])
        seen = {m.get(TEXT) for m in training_data.intent_examples}
        added: List[Message] = []
        for example in training_data.intent_examples:
            text, intent = example.get(TEXT), example.get(INTENT)
            if not isinstance(text, str) or not intent or intent in skip or is_latin(text):
                continue
            copy = with_context(text, before, after, share)
            if copy and copy not in seen:
                seen.add(copy)
                added.append(Message(data={TEXT: copy, INTENT: intent, AUGMENTED: True}))
        if not added:
            return training_data
        return training_data.merge(TrainingData(training_examples=added))

    def process(self, messages: List[Message]) -> List[Message]:
        return messages
