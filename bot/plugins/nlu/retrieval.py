"""Rasa NLU component: a retrieval second opinion beside DIET.

Character n-gram TF-IDF (scikit-learn) over the normalised training examples, built when the model
is trained and stored with it (vocabulary, idf and example matrix: no pickle). For every message it
adds ``retrieval`` to the parse data: the intents of the most similar training examples with their
cosine similarity, best first; and ``in_field``: whether the message names anything of our field
(a word of the jieba domain dictionary or of bot/lexicon/field.yml, or a licence scope, business
kind, number type or company type). The
actions use them to rank the 「您是想问……」 buttons and to tell a question close to a known one
from an in-scope question that no fact answers, and that from an off-topic one
(actions/decide.py); it never changes the intent DIET chose.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Text

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.plugins.nlu.augment import AUGMENTED
from bot.plugins.nlu.normalize import FieldLexicon, field_lexicon, field_words
from bot.settings import PROJECT_ROOT

if TYPE_CHECKING:  # scikit-learn is imported when an index is built, not with this module
    from sklearn.feature_extraction.text import TfidfVectorizer

RETRIEVAL = "retrieval"
IN_FIELD = "in_field"
# the message names our field itself, not only a word other licences share (許可证, 罚款, 营业执照)
NAMES_FIELD = "names_field"
# the message names another field's licence or paper (食品经营许可证, 驾驶证: bot/lexicon/field.yml)
ELSEWHERE = "elsewhere"
OFF_TOPIC = "out_of_scope"
# two questions in one message (「无证经营罚多少，现在补办来得及吗」): each clause's closest question
CLAUSES = "clauses"
MAX_CLAUSES = 4
MIN_CLAUSE_CHARS = 4
NOT_FIELD_ENTITIES = {"capital", "province"}
DEFAULT_FIELD = PROJECT_ROOT / "bot" / "lexicon" / "field.yml"


def _vectorizer(config: Dict[Text, Any], vocabulary: Optional[dict] = None) -> TfidfVectorizer:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=(config["min_ngram"], config["max_ngram"]),
        sublinear_tf=True,
        lowercase=True,
        vocabulary=vocabulary,
    )


class Index:
    """Training examples as TF-IDF rows, and the intent of each row.

    A message is vectorised with the fitted vectorizer's own analyzer, vocabulary and idf, but not
    through ``transform`` (whose per-call overhead is a few milliseconds): only its n-grams' rows of
    the feature × example matrix are touched.
    """

    def __init__(
        self,
        vectorizer: TfidfVectorizer,
        matrix: scipy.sparse.csr_matrix,
        intents: List[str],
        words: Optional[List[str]] = None,
        lexicon: FieldLexicon = FieldLexicon(),
    ) -> None:
        self.vectorizer = vectorizer
        self.matrix = matrix
        self.intents = intents
        self.words = words or []
        generic, colloquial = set(lexicon.generic), set(lexicon.words)
        self.own_words = [w for w in self.words if w not in generic]
        # beside another field's paper, only the proper words of ours name our field: 换证 or 证到期 are
        # said of a driving licence too
        self.proper_words = [w for w in self.own_words if w not in colloquial]
        self.elsewhere = lexicon.elsewhere
        self._analyze = vectorizer.build_analyzer()
        self._vocabulary = vectorizer.vocabulary_
        self._idf = np.asarray(vectorizer.idf_)
        order = np.argsort(np.array(intents, dtype=object), kind="stable")
        ordered = [intents[i] for i in order]
        self._names = sorted(set(intents))
        self._starts = np.array([ordered.index(name) for name in self._names])
        self._features = matrix[order].T.tocsr()  # n-gram × example, examples grouped by intent

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The message's n-gram indices and their L2-normalised sublinear tf-idf weights."""
        vocabulary = self._vocabulary
        counts = Counter(vocabulary[gram] for gram in self._analyze(text) if gram in vocabulary)
        if not counts:
            return np.array([], dtype=np.int64), np.array([])
        columns = np.array(list(counts), dtype=np.int64)
        weights = (1.0 + np.log(np.array(list(counts.values()), dtype=float))) * self._idf[columns]
        return columns, weights / np.linalg.norm(weights)

    def rank(self, text: str, top: int) -> List[Dict[str, Any]]:
        """Return up to ``top`` intents by their closest example's cosine similarity to ``text``."""
        columns, weights = self.vector(text)
        if not len(columns):
            return []
        # the rows of the message's n-grams, gathered in one go (scipy's row indexing costs milliseconds)
        features = self._features
        starts, lengths = features.indptr[columns], np.diff(features.indptr)[columns]
        positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        similarity = np.bincount(
            features.indices[positions],
            weights=features.data[positions] * np.repeat(weights, lengths),
            minlength=features.shape[1],
        )
        best = np.maximum.reduceat(similarity, self._starts)
        order = np.argsort(-best)[:top]
        return [{"name": self._names[i], "similarity": round(float(best[i]), 4)} for i in order if best[i] > 0]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class RetrievalSecondOpinion(GraphComponent):
    """Rank intents by the most similar training example (a second opinion for the actions)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # the field's words: bot/lexicon/field.yml and the tokenizer's dictionary
        return {"min_ngram": 1, "max_ngram": 3, "top": 5, "field": str(DEFAULT_FIELD), "dictionary_path": None}

    def __init__(
        self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource, index: Optional[Index] = None
    ) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._index = index

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RetrievalSecondOpinion:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        lexicon = field_lexicon(self._config.get("field"))
        rows = [
            (m.get(TEXT), m.get(INTENT))
            for m in training_data.intent_examples
            # a copy with a visitor's story around it would make every message with that story alike
            if isinstance(m.get(TEXT), str)
            and m.get(TEXT)
            and m.get(INTENT)
            and not m.get(AUGMENTED)
            # an off-topic example that is off-topic only for naming another field's paper (「卫生许可证多久能批
            # 下来」) would make our own question shapes look off-topic (「多久能批下来」); the decision
            # sends such messages off-topic by the paper's name
            and not (m.get(INTENT) == OFF_TOPIC and any(word in m.get(TEXT).lower() for word in lexicon.elsewhere))
        ]
        vectorizer = _vectorizer(self._config)
        matrix = vectorizer.fit_transform([text for text, _ in rows]).tocsr()
        words = field_words(self._config.get("field"), self._config.get("dictionary_path"), lexicon)
        with self._storage.write_to(self._resource) as directory:
            scipy.sparse.save_npz(directory / "examples.npz", matrix)
            np.save(directory / "idf.npy", vectorizer.idf_)
            (directory / "index.json").write_text(
                json.dumps(
                    {
                        "vocabulary": {k: int(v) for k, v in vectorizer.vocabulary_.items()},
                        "intents": [intent for _, intent in rows],
                        "field_words": words,
                    },
                    ensure_ascii=False,
                ),
                encoding="utf-8",
            )
        self._index = Index(vectorizer, matrix, [intent for _, intent in rows], words, lexicon)
        return self._resource

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> RetrievalSecondOpinion:
        try:
            with model_storage.read_from(resource) as directory:
                stored = json.loads((directory / "index.json").read_text(encoding="utf-8"))
                matrix = scipy.sparse.load_npz(directory / "examples.npz").tocsr()
                idf = np.load(directory / "idf.npy")
        except ValueError:  # nothing was trained (no intent examples)
            return cls(config, model_storage, resource)
        vectorizer = _vectorizer(config, stored["vocabulary"])
        vectorizer.idf_ = idf
        # the field's words are read where the model runs (bot/lexicon/field.yml): an edit there applies at the
        # next start, like the normaliser's lexicons; the stored list serves a model moved without the lexicon
        lexicon = field_lexicon(config.get("field"))
        words = field_words(config.get("field"), config.get("dictionary_path"), lexicon) or stored["field_words"]
        index = Index(vectorizer, matrix, stored["intents"], words, lexicon)
        return cls(config, model_storage, resource, index)

    def clauses(self, text: str) -> List[Dict[str, Any]]:
        """Each clause's closest question, when the message has two clauses or more that could ask one.

        The normaliser has already turned the punctuation between sentences into commas. At most
        ``MAX_CLAUSES`` clauses are ranked (a message of a hundred commas costs four rankings).
        """
        parts = [part.strip() for part in text.split(",")]
        parts = [part for part in parts if sum(ch.isalnum() for ch in part) >= MIN_CLAUSE_CHARS]
        if len(parts) < 2 or self._index is None:
            return []
        found = []
        for part in parts[:MAX_CLAUSES]:
            ranked = self._index.rank(part, 1)
            if ranked:
                found.append({"text": part, **ranked[0]})
        return found

    def process(self, messages: List[Message]) -> List[Message]:
        if self._index is None:
            return messages
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str) and text and not text.startswith("/"):
                message.set(RETRIEVAL, self._index.rank(text, self._config["top"]), add_to_output=True)
                lowered = text.lower()
                # amounts and places also come up in loans, rents and weather: they do not count
                named = {e.get("entity") for e in message.get(ENTITIES) or []} - NOT_FIELD_ENTITIES
                in_field = bool(named) or any(word in lowered for word in self._index.words)
                message.set(IN_FIELD, in_field, add_to_output=True)
                elsewhere = any(word in lowered for word in self._index.elsewhere)
                own = self._index.proper_words if elsewhere else self._index.own_words
                names = bool(named) or (in_field and any(word in lowered for word in own))
                message.set(NAMES_FIELD, names, add_to_output=True)
                message.set(ELSEWHERE, elsewhere, add_to_output=True)
                clauses = self.clauses(text)
                if clauses:
                    message.set(CLAUSES, clauses, add_to_output=True)
        return messages
