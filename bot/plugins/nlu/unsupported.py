"""Rasa NLU component: a guess with nothing behind it falls back, whatever the model's confidence.

Placed after the retrieval second opinion and the FallbackClassifier, it gives ``nlu_fallback`` to

- a message without a word: 「2」, 「？？」 or 「……」 carry nothing the classifier was trained on, so its
  guess is whatever blank input happens to be closest to: a goodbye on one training, an off-topic
  question on another (a WeChat follower's bare 「2」 after an answer, with no menu pending, was told
  「好的，再见！」). An emoji is a word here: 👍 and 👋 mean something;
- a small-talk guess that no example of its intent resembles: 「zxcvbnm」 and 「天气好热啊」 read as
  「好的」, 「一家香港公司能直接来内地申请吗」 as "are you a bot?". Small talk is answered by a rule,
  not weighed by the reply decision, so the check is made here.

The fallback goes to the reply decision (actions/decide.py), which says it did not understand, offers
the closest questions or gives the off-topic reply, as for any unclear message.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.plugins.nlu.normalize import has_word
from bot.plugins.nlu.retrieval import RETRIEVAL

FALLBACK = "nlu_fallback"
SMALL_TALK = (
    "affirm",
    "deny",
    "stop",
    "greet",
    "goodbye",
    "thank",
    "bot_challenge",
    "request_human",
    "request_consultant",
)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class UnsupportedFallback(GraphComponent):
    """Give the fallback intent to a message without a word, and to small talk like none of its examples."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # the least similar small talk of the evaluation sets that is small talk is 0.19 like its intent's
        # closest example (「有专业顾问吗，想直接电话沟通」); the misread ones were 0 and 0.11
        return {"small_talk": list(SMALL_TALK), "min_similarity": 0.15}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._small_talk = frozenset(config["small_talk"])
        self._min_similarity = float(config["min_similarity"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> UnsupportedFallback:
        return cls(config)

    def unsupported(self, message: Message) -> bool:
        """Whether the message's intent has nothing behind it."""
        text = message.get(TEXT)
        # a button payload (「/affirm」) has letters and no second opinion; an empty text has nothing to decide
        if not isinstance(text, str) or not text.strip():
            return False
        if not has_word(text):
            return True
        intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        retrieval = message.get(RETRIEVAL)
        if intent not in self._small_talk or retrieval is None:
            return False
        similarity = max((r["similarity"] for r in retrieval if r.get("name") == intent), default=0.0)
        return similarity < self._min_similarity

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == FALLBACK or not self.unsupported(message):
                continue
            message.set(INTENT, {INTENT_NAME_KEY: FALLBACK, PREDICTED_CONFIDENCE_KEY: 1.0}, add_to_output=True)
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != FALLBACK]
            message.set(
                INTENT_RANKING_KEY,
                [{INTENT_NAME_KEY: FALLBACK, PREDICTED_CONFIDENCE_KEY: 1.0}, *ranking],
                add_to_output=True,
            )
        return messages
