"""What the reply decision reads of one visitor message and its conversation (actions/decide.py).

The parse data Rasa gives (``tracker.latest_message`` or ``/model/parse``) as a ``Turn``; the entities a
message names and what earlier messages told of the case; a fact's own question as compared with what the
visitor typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

FALLBACK = "nlu_fallback"
# what a visitor told about their case in an earlier message still holds for the next question
# (「我们公司在厦门」, then 「地网证去哪办」); an amount is not carried over: a verdict needs it asked with it
REMEMBERED = ("province", "licence_scope", "company_type")
# what separates one sentence or clause from the next: left out when comparing with a fact's question
_NOT_WORDS = re.compile(r"[\W_]+")
_SENTENCES = re.compile(r"[?？!！。；;]")
OWN_SENTENCE_MIN = 10


@dataclass(frozen=True)
class Turn:
    """What the decision reads of one visitor message and its conversation."""

    intent: Optional[str]
    confidence: Optional[float]  # None for a button payload: nothing to doubt
    ranking: Tuple[Tuple[str, float], ...] = ()  # the model's, best first, fallback left out
    retrieval: Tuple[Tuple[str, float], ...] = ()  # the second opinion's, best first; () when none
    clauses: Tuple[Tuple[str, float], ...] = ()  # each clause's closest question, when it has several
    in_field: Optional[bool] = None  # the message has a word of our field (None: not known)
    # it names our field itself, not only a word other licences share (None: as ``in_field``)
    names_field: Optional[bool] = None
    elsewhere: bool = False  # it names another field's licence or paper (食品经营许可证, 驾驶证)
    entities: Mapping[str, Any] = field(default_factory=dict)  # this message's, over what was told before
    said: Tuple[str, ...] = ()  # the entities this message names itself
    text: str = ""  # what the NLU read (normalised)
    typed: str = ""  # what the visitor typed
    previous_fact: Optional[str] = None  # the fact that answered last (slot fact_key)
    failed_before: bool = False  # the previous reply already said the assistant was unsure
    in_form: bool = False

    @classmethod
    def from_parse(
        cls,
        parse: Mapping[str, Any],
        previous_fact: Optional[str] = None,
        failed_before: bool = False,
        in_form: bool = False,
        told_before: Optional[Mapping[str, Any]] = None,
    ) -> Turn:
        """Read a Rasa parse result (``tracker.latest_message`` or ``/model/parse``).

        ``told_before``: what earlier messages said of the case (``remembered``); this message's own
        entities take precedence.
        """
        intent = parse.get("intent") or {}
        own = message_entities(parse.get("entities") or [])
        ranking = tuple(
            (str(r["name"]), float(r.get("confidence") or 0))
            for r in parse.get("intent_ranking") or []
            if isinstance(r, dict) and r.get("name") and r.get("name") != FALLBACK
        )
        retrieval = tuple(
            (str(r["name"]), float(r.get("similarity") or 0))
            for r in parse.get("retrieval") or []
            if isinstance(r, dict) and "name" in r
        )
        clauses = tuple(
            (str(c["name"]), float(c.get("similarity") or 0))
            for c in parse.get("clauses") or []
            if isinstance(c, dict) and "name" in c
        )
        in_field = parse.get("in_field")
        names_field = parse.get("names_field")
        return cls(
            clauses=clauses,
            names_field=names_field if isinstance(names_field, bool) else None,
            elsewhere=parse.get("elsewhere") is True,
            intent=intent.get("name"),
            confidence=intent.get("confidence"),
            ranking=ranking,
            retrieval=retrieval,
            in_field=in_field if isinstance(in_field, bool) else None,
            entities={**(told_before or {}), **own},
            said=tuple(own),
            text=str(parse.get("normalized_text") or parse.get("text") or ""),
            typed=str(parse.get("text") or ""),
            previous_fact=previous_fact,
            failed_before=failed_before,
            in_form=in_form,
        )


def message_entities(entities: Any) -> Dict[str, Any]:
    """Return the entities of a message as {entity: value}.

    An entity named with two different values (「全网和地网有什么区别」) is a comparison, not a case:
    it is left out so the general answer is given.
    """
    values: Dict[str, set] = {}
    first: Dict[str, Any] = {}
    for entity in entities or []:
        if not isinstance(entity, dict) or "entity" not in entity:
            continue
        values.setdefault(entity["entity"], set()).add(str(entity.get("value")))
        first.setdefault(entity["entity"], entity.get("value"))
    return {name: first[name] for name, seen in values.items() if len(seen) == 1}


def remembered(earlier: list) -> Dict[str, Any]:
    """What the visitor told of their case in earlier messages (entity lists, oldest first): the newest
    value of each ``REMEMBERED`` entity."""
    told: Dict[str, Any] = {}
    for entities in earlier:
        for name, value in message_entities(entities).items():
            if name in REMEMBERED:
                told[name] = value
    return told


def question_key(text: str) -> str:
    """A question as compared with a fact's own: letters, digits and characters only, lower case."""
    return _NOT_WORDS.sub("", text).lower()


def own_questions(questions: Mapping[str, str]) -> Dict[str, str]:
    """Each fact's own question (``question_key``) → its intent, from {intent: question}.

    A question of two sentences (「许可证有电子证书吗？纸质证书丢了怎么补办？」) is also found by each sentence of
    at least ``OWN_SENTENCE_MIN`` characters; a sentence two facts share finds neither.
    """
    found: Dict[str, str] = {}
    shared: set = set()
    for intent, question in questions.items():
        keys = {question_key(question)} | {
            key for key in map(question_key, _SENTENCES.split(question)) if len(key) >= OWN_SENTENCE_MIN
        }
        for key in keys - {""}:
            if key in found and found[key] != intent:
                shared.add(key)
            found[key] = intent
    return {key: intent for key, intent in found.items() if key not in shared}
