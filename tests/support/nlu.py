"""The project's entity extraction as Rasa runs it (normaliser, jieba dictionary, lexicon), without a model."""

from __future__ import annotations

import re
from typing import Callable

from bot.plugins.nlu.entities import (
    DEFAULT_LEXICON,
    DEFAULT_PLACES,
    build_nlp,
    entities_in,
    load_jieba_dictionary,
    place_names,
    read_lexicon,
)
from bot.plugins.nlu.normalize import Normalizer
from bot.settings import PROJECT_ROOT


def entity_extractor() -> Callable[[str], list[dict]]:
    """A function from a visitor's message to the entities the assistant reads in it."""
    load_jieba_dictionary(PROJECT_ROOT / "bot" / "dictionary")
    lexicon = read_lexicon(DEFAULT_LEXICON, DEFAULT_PLACES)
    normalizer = Normalizer()
    nlp = build_nlp(lexicon, normalizer.normalize)
    regexes = {k: re.compile(v) for k, v in lexicon["regex"].items()}
    places = place_names(nlp)

    def run(text: str) -> list[dict]:
        return entities_in(normalizer.normalize(text), nlp, regexes, lexicon["coverage"], places)

    return run
