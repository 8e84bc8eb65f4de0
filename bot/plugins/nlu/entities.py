"""Rasa NLU component: rule-based entities with a spaCy EntityRuler built from data.

The pipeline is a blank Chinese spaCy model with the jieba segmenter (no model
download exists) and an ``entity_ruler`` whose patterns come from
bot/lexicon/entities.yml; each pattern's id is the canonical value
(粤 → 广东省, 跨省 → 全网). Amounts come from the same file's regexes.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.plugins.nlu.normalize import Normalizer
from bot.settings import PROJECT_ROOT

DEFAULT_LEXICON = PROJECT_ROOT / "bot" / "lexicon" / "entities.yml"


def read_lexicon(path: Path | str) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def load_jieba_dictionary(path: Path | str | None) -> None:
    """Load the project's jieba dictionary so patterns and messages segment alike."""
    import jieba

    if path and Path(path).is_dir():
        for file in sorted(Path(path).iterdir()):
            if file.is_file():
                jieba.load_userdict(str(file))


def build_nlp(lexicon: dict, normalize=None):
    """Return a blank zh spaCy pipeline (jieba) with an EntityRuler for ``lexicon``.

    Phrases go through ``normalize`` (the message normaliser) so that they
    match normalised messages (一个省 is matched as 1个省).
    """
    import spacy

    normalize = normalize or (lambda text: text)

    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    patterns = []
    for label, values in (lexicon.get("phrases") or {}).items():
        for canonical, phrases in values.items():
            for phrase in {canonical, *phrases}:
                patterns.append({"label": label, "pattern": normalize(str(phrase)).lower(), "id": canonical})
    ruler.add_patterns(patterns)
    return nlp


def entities_in(text: str, nlp, regexes: Dict[str, re.Pattern]) -> List[Dict[str, Any]]:
    """Return Rasa entity dicts for ``text``."""
    found = []
    for ent in nlp(text).ents:
        found.append({"entity": ent.label_, "value": ent.ent_id_ or ent.text, "start": ent.start_char,
                      "end": ent.end_char, "text": ent.text})
    for label, pattern in regexes.items():
        for match in pattern.finditer(text):
            value = float(match.group(1))
            found.append({"entity": label, "value": int(value) if value.is_integer() else value,
                          "start": match.start(), "end": match.end(), "text": match.group(0)})
    return sorted(found, key=lambda e: e["start"])


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=True)
class LexiconEntityExtractor(GraphComponent):
    """Extract domain entities (province, licence scope, business kind, capital …)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # the tokenizer's dictionary: loaded before patterns are segmented
        return {"lexicon": str(DEFAULT_LEXICON), "dictionary_path": None}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 nlp=None, regexes: Optional[Dict[str, str]] = None) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._nlp = nlp
        self._regexes = {k: re.compile(v) for k, v in (regexes or {}).items()}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LexiconEntityExtractor":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        lexicon = read_lexicon(self._config["lexicon"])
        load_jieba_dictionary(self._config["dictionary_path"])
        nlp = build_nlp(lexicon, Normalizer().normalize)
        with self._storage.write_to(self._resource) as directory:
            nlp.to_disk(directory / "spacy")
            (directory / "regex.yml").write_text(
                yaml.safe_dump(lexicon.get("regex") or {}, allow_unicode=True), encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "LexiconEntityExtractor":
        import spacy

        load_jieba_dictionary(config["dictionary_path"])
        with model_storage.read_from(resource) as directory:
            nlp = spacy.load(directory / "spacy")
            regexes = yaml.safe_load((directory / "regex.yml").read_text(encoding="utf-8")) or {}
        return cls(config, model_storage, resource, nlp=nlp, regexes=regexes)

    def process(self, messages: List[Message]) -> List[Message]:
        if self._nlp is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str) or not text:
                continue
            found = [{**e, "confidence_entity": 1.0, "extractor": self.__class__.__name__}
                     for e in entities_in(text, self._nlp, self._regexes)]
            for entity in found:
                entity.pop("text", None)
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages
