"""Remember the NLU pipeline's result for texts it has read, per model (FAQ traffic repeats itself).

The first component of the project's pipeline (``ChineseNormalizer``) replaces
the message's text with its normalised form, and every later component reads
only that text, so the parse result is a function of the model and the
normalised text: 「全網和地網有什麼區別」 and 「全网和地网有什么区别」 share one entry.
The key is the model's id (a new one for every training) and the text normalised exactly as the
model's own normaliser does (its configuration is read from the model); a
model without that normaliser (the stock pipeline) is keyed by the raw text.
Payloads (``/intent``) skip the cache: Rasa reads them without the pipeline.

Each Rasa process keeps its own bounded cache (``NLU_CACHE_SIZE`` entries, least
recently used dropped first; 0 turns it off). Callers receive a copy, so no
turn can change what the next one reads.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Text, Tuple

_CACHE = "_callcentre_nlu_cache"  # attribute on Rasa's MessageProcessor


class ParseCache:
    """Parse results by (model id, normalised text), at most ``size`` of them."""

    def __init__(self, fingerprint: str, normalize: Callable[[str], str], size: int) -> None:
        self.fingerprint = fingerprint
        self.normalize = normalize
        self.size = size
        self.hits = 0
        self.misses = 0
        self._results: OrderedDict[Tuple[str, str], Dict[Text, Any]] = OrderedDict()

    def key(self, text: str) -> Tuple[str, str]:
        return self.fingerprint, self.normalize(text)

    def get(self, key: Tuple[str, str]) -> Optional[Dict[Text, Any]]:
        found = self._results.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._results.move_to_end(key)
        return copy.deepcopy(found)

    def put(self, key: Tuple[str, str], parse_data: Dict[Text, Any]) -> None:
        self._results[key] = copy.deepcopy(parse_data)
        self._results.move_to_end(key)
        while len(self._results) > self.size:
            self._results.popitem(last=False)


def model_normalizer(model_metadata: Any) -> Callable[[str], str]:
    """The text normalisation of the model's ``ChineseNormalizer``, or none (raw text) if it has none."""
    from bot.plugins.nlu.normalizer import ChineseNormalizer

    for node in model_metadata.predict_schema.nodes.values():
        if isinstance(node.uses, type) and issubclass(node.uses, ChineseNormalizer):
            component = ChineseNormalizer({**ChineseNormalizer.get_default_config(), **node.config})
            return component._normalizer.normalize
    return str


def cache_for(processor: Any, size: int) -> Optional[ParseCache]:
    """``processor``'s cache, made at its first message (None when the cache is off)."""
    if size <= 0:
        return None
    cache = processor.__dict__.get(_CACHE)
    if cache is None:
        metadata = processor.model_metadata
        cache = processor.__dict__[_CACHE] = ParseCache(metadata.model_id, model_normalizer(metadata), size)
    return cache


def install(size: Optional[int] = None) -> None:
    """Put the cache in front of ``MessageProcessor._parse_message_with_graph`` (idempotent)."""
    from rasa.core.processor import MessageProcessor

    from bot import settings as settings_module

    if getattr(MessageProcessor._parse_message_with_graph, "cached_parse", False):
        return
    limit = settings_module.current().nlu_cache_size if size is None else size
    stock = MessageProcessor._parse_message_with_graph

    def _parse_message_with_graph(
        self: Any, message: Any, tracker: Any, only_output_properties: bool = True
    ) -> Dict[Text, Any]:
        cache = cache_for(self, limit)
        text = message.text
        if cache is None or not only_output_properties or not isinstance(text, str) or text.startswith("/"):
            return stock(self, message, tracker, only_output_properties)
        key = cache.key(text)
        found = cache.get(key)
        if found is not None:
            return found
        parse_data = stock(self, message, tracker, only_output_properties)
        cache.put(key, parse_data)
        return parse_data

    _parse_message_with_graph.cached_parse = True  # type: ignore[attr-defined]
    MessageProcessor._parse_message_with_graph = _parse_message_with_graph
