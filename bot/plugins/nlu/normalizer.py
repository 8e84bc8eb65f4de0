"""Rasa NLU component: normalise Chinese text before tokenisation (first in the pipeline)."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.plugins.nlu.normalize import DEFAULT_TYPOS, Normalizer

NORMALIZED_TEXT = "normalized_text"


# Registered as a featurizer so Rasa runs it on training data and on every
# message, in pipeline order, before the tokenizer.
@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class ChineseNormalizer(GraphComponent):
    """Replace the message text with its normalised form for understanding.

    The tracker keeps what the visitor typed (UserUttered.text); the parse
    data carries the normalised text as ``normalized_text``.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"typos": str(DEFAULT_TYPOS)}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._normalizer = Normalizer(config["typos"])

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ChineseNormalizer:
        return cls(config)

    def _normalize(self, message: Message, output: bool) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str):
            return
        normalized = self._normalizer.normalize(text)
        message.set(TEXT, normalized)
        if output:
            message.set(NORMALIZED_TEXT, normalized, add_to_output=True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._normalize(example, output=False)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message, output=True)
        return messages
