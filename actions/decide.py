"""The reply decision: from what the NLU read and what the conversation holds, what the visitor gets.

``decide`` is pure: it reads a ``Turn`` (the parse data, the slots the decision needs, the intents a fact
answers) and returns one ``Decision``. The actions render it (actions/answer.py) and `make eval` scores
the same function (bot/tools/evaluate), so what is measured is what visitors get.

Order of the decision, each step only when the ones before did not decide:

1. a message that is one of our facts' own questions (punctuation and spacing aside): that fact;
2. a registered capital with a can-we-apply question: the verdict;
3. a message without a word (「2」): not understood, said so;
4. a follow-up (「那地网呢」, a bare 「外资」): the previous topic for the new case, or with nothing asked
   before the fact for the case it names;
5. a fact question the model is sure of: that fact, unless the retrieval second opinion prefers another
   answered question (one the model does not rule out) or, for a message naming nothing of our field, an
   off-topic example;
6. otherwise (unsure, a fallback, an off-topic guess): both opinions agreeing on a question answers it;
   the off-topic reply only for a message that names nothing of our field; an honest reply with a
   consultant for an in-scope question no fact answers; else 「您是想问……」 with the closest questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

from actions.turn import FALLBACK, Turn, message_entities, own_questions, question_key, remembered
from bot.plugins.nlu.normalize import has_word

__all__ = [
    "Decision",
    "Thresholds",
    "Turn",
    "decide",
    "message_entities",
    "own_questions",
    "question_key",
    "remembered",
]

# messages that only narrow the previous question (「那省内的呢」, 「外资」)
FOLLOWUPS = frozenset({"ask_followup", "inform"})
OFF_TOPIC = "out_of_scope"
NOT_ANSWERS = frozenset({FALLBACK, "ask_followup"})
# in scope, no fact: the honest reply for each
HONEST_REPLIES = {"ask_uncovered": "utter_no_fact", "ask_other_licence": "utter_other_licence"}
# questions that, asked with a registered capital (「注册资本300万，接全国的客服，能办吗」), ask for a verdict
VERDICT_INTENTS = frozenset(
    {
        "ask_capital",
        "ask_conditions",
        "ask_licence_types",
        "ask_coverage",
        "ask_foreign_investment",
        "ask_need_licence",
        "check_eligibility",
    }
    | FOLLOWUPS
)
# a bare place with nothing asked before: who approves, for that case
WHERE_FACT = "licence.types"
WHERE_INTENT = "ask_licence_types"
# what a follow-up or a bare detail answers when nothing was asked before (「那省内呢」, 「我们在苏州，只做
# 本地」, 「如果是外资的呢」 as a first message): the fact for that case, by the first row that matches; a
# place or a scope first: who approves (the approval rule also weighs a foreign investor)
CASE_FACTS = (
    ("licence_scope", None, WHERE_FACT),
    ("province", None, WHERE_FACT),
    ("company_type", "外资", "foreign.investment"),
    ("company_type", "内资", "conditions.all"),
)
MAX_CHOICES = 3
WORDLESS = "no words"


@dataclass(frozen=True)
class Thresholds:
    """Every number the decision uses (each measured on the held-out sets: see the commit that set it)."""

    # the answer gate: below this confidence, or this close to the second guess, the model is unsure
    answer_min_confidence: float = 0.35
    answer_min_margin: float = 0.1
    # below this confidence an answer gives way to the second opinion that the message is off-topic
    # (「帮我查一下顺丰单号」 read as the 95/96 number question with 0.77)
    off_topic_overrule: float = 0.9
    # below this confidence the model's answer gives way to another answered question whose example
    # is at least this similar
    second_opinion_below: float = 0.65
    second_opinion_similarity: float = 0.4
    # ... and only when the model too gives that question at least this confidence: an example that is
    # close in characters alone is no reason (「办全网证要交哪些资料给管局」 is 0.56 like a renewal question the
    # model gives 0.01)
    second_opinion_support: float = 0.1
    # the model unsure but its best guess is also the question whose example is closest, this similar:
    # two independent opinions agree, so it is answered
    agreement_similarity: float = 0.35
    agreement_confidence: float = 0.15
    # retrieval similarity of the closest example of an answered question: from ``near`` on the question
    # is probably one of ours and worth buttons; an off-topic guess is overruled from ``in_scope`` on
    near: float = 0.35
    in_scope: float = 0.6
    # a button is offered for an intent with at least this confidence (or any retrieval similarity)
    min_candidate_confidence: float = 0.02
    # a second question in the same message (its clause this close to a question of ours) is answered too
    second_question: float = 0.7
    # the model's confidence in the two follow-up kinds together (「那只做本市的呢」: 0.35 follow-up, 0.31 a
    # detail told): it is sure the message narrows the question, only not which way, and both mean the same
    follow_up_together: float = 0.5


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Decision:
    """What the visitor gets.

    ``kind`` is one of: ``answer`` (the fact of ``intent``, or the fact ``fact_key`` for a follow-up),
    ``verdict`` (the capital verdict), ``clarify`` (「您是想问……」 with ``candidates``; none left: the
    plain 「没听懂」), ``honest`` (``response``: an in-scope question no fact answers), ``off_topic``,
    ``consultant`` (unsure twice in a row: a consultant is offered), ``missing`` (a question whose fact is
    missing from the database: an apology with the contact), ``form`` (nothing to say: the active form
    reads the message itself). ``why`` names the step that decided.
    """

    kind: str
    why: str
    intent: Optional[str] = None
    also: Tuple[str, ...] = ()  # a second question of the same message, answered after the first
    fact_key: Optional[str] = None
    candidates: Tuple[str, ...] = ()
    response: Optional[str] = None

    def label(self, turn: Turn) -> str:
        """The intent whose reply the visitor sees, as the evaluation sets label messages."""
        if self.kind == "answer":
            # a follow-up answers a fact by its key: the visitor narrowed a question, as the sets label it
            return self.intent or (turn.intent if turn.intent in FOLLOWUPS else "ask_followup")
        if self.kind == "off_topic" or self.why == WORDLESS:
            return OFF_TOPIC  # nothing asked of our field (a wordless message is told it was not understood)
        if self.kind == "honest":
            return next((i for i, r in HONEST_REPLIES.items() if r == self.response), "ask_uncovered")
        if self.kind == "clarify" and self.candidates:
            return self.candidates[0]
        return turn.intent or ""

    @property
    def confident(self) -> bool:
        """Whether the visitor gets a fact or a verdict without being asked what was meant."""
        return self.kind in ("answer", "verdict")


def decide(
    turn: Turn,
    answered: frozenset | set,
    own_questions: Optional[Mapping[str, str]] = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Decision:
    """Decide the reply to ``turn``.

    ``answered``: the intents a fact answers; ``own_questions``: each fact's own question (``question_key``)
    → its intent, so a visitor who asks exactly that gets that fact whatever the model says.
    """
    t = thresholds
    follow = turn.intent in FOLLOWUPS or agreed_follow_up(turn, t)
    own = next(
        (
            intent
            for text in (turn.typed, turn.text)
            if text and (intent := (own_questions or {}).get(question_key(text)))
        ),
        None,
    )
    if own in answered and "capital" not in turn.entities:
        return Decision("answer", "own question", intent=own)
    if turn.elsewhere and not names_field(turn) and not turn.in_form:
        # 「食品经营许可证多久能下来」, 「驾驶证快到期了，换证要带什么」: whatever the model makes of the rest
        return Decision("off_topic", "another field's paper")
    # in a form the form asks for the capital itself: a message it did not understand is not a verdict
    unread_in_form = turn.in_form and turn.intent in (FALLBACK, OFF_TOPIC)
    if is_situation(turn, t) and (not follow or not turn.previous_fact) and not unread_in_form:
        return Decision("verdict", "capital and a can-we-apply question")
    if sole_trader_asks(turn, t) and not unread_in_form:
        return Decision("verdict", "a sole trader asks whether it can apply")
    if turn.confidence is not None and turn.text and not has_word(turn.text):
        return wordless(turn)
    if follow:
        previous = turn.previous_fact or case_fact(turn)
        # a place alone is no follow-up when the closest example is off-topic (「广州今天多少度」)
        weather = turn.in_field is False and closest_is_off_topic(turn)
        if previous and turn.said and not weather:
            return Decision("answer", "follow-up", fact_key=previous)
        return unsure(turn, answered, t)
    if turn.intent in answered and turn.confidence is not None:
        preferred = second_opinion(turn, answered, t)
        if preferred:
            return Decision("answer", "second opinion", intent=preferred)
        if is_uncertain(turn, t) or unsupported(turn, t):
            return unsure(turn, answered, t)
        if turn.confidence < t.off_topic_overrule and closest_is_off_topic(turn) and not names_field(turn):
            return Decision("off_topic", "second opinion: off-topic")
        return Decision(
            "answer", "model", intent=turn.intent, also=second_questions(turn, str(turn.intent), answered, t)
        )
    if turn.intent in answered:  # a button payload
        return Decision("answer", "payload", intent=turn.intent)
    if turn.intent in HONEST_REPLIES and not is_uncertain(turn, t):
        return Decision("honest", "model", response=HONEST_REPLIES[turn.intent])
    if turn.intent and turn.intent not in (OFF_TOPIC, FALLBACK) and not is_uncertain(turn, t):
        # a question the model knows but no fact answers (yet): say so with the contact
        return Decision("missing", "no fact for the intent", intent=turn.intent)
    return unsure(turn, answered, t)


def case_fact(turn: Turn) -> Optional[str]:
    """The fact a detail of this message answers when nothing was asked before, or None."""
    for entity, value, key in CASE_FACTS:
        if entity in turn.said and value in (None, turn.entities.get(entity)):
            return key
    return None


def agreed_follow_up(turn: Turn, t: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """An unsure model whose best guess is a follow-up, and either its guesses of the two follow-up kinds
    together are sure enough or the second opinion's closest example is one too (「那省内的证去哪里办」): the
    message narrows the previous question."""
    if turn.intent != FALLBACK and not is_uncertain(turn, t):
        return False
    if not turn.ranking or not turn.said or turn.ranking[0][0] not in FOLLOWUPS:
        return False
    if sum(c for name, c in turn.ranking if name in FOLLOWUPS) >= t.follow_up_together:
        return True
    if not turn.retrieval:
        return False
    (guess, confidence), (closest_name, similarity) = turn.ranking[0], turn.retrieval[0]
    return (
        guess in FOLLOWUPS
        and closest_name in FOLLOWUPS
        and confidence >= t.agreement_confidence
        and similarity >= t.agreement_similarity
    )


def wordless(turn: Turn) -> Decision:
    """A message of digits and punctuation only (「2」, 「？？」): not understood, and said so; in a form the
    form reads it itself (「500」 for the registered capital) and nothing is said here."""
    if turn.in_form:
        return Decision("form", "no words: the form reads the answer")
    if turn.failed_before:
        return Decision("consultant", "no words, unsure twice in a row")
    return Decision("clarify", WORDLESS)


def second_questions(turn: Turn, first: str, answered: frozenset | set, t: Thresholds) -> Tuple[str, ...]:
    """Another question the message asks in a clause of its own, clearly one of ours (at most one)."""
    if first not in (name for name, _ in turn.clauses):
        return ()  # the clauses do not see the question the model answers: they are not to be trusted
    others = [name for name, s in turn.clauses if name != first and name in answered and s >= t.second_question]
    return tuple(others[:1])


def unsure(turn: Turn, answered: frozenset | set, t: Thresholds) -> Decision:
    """The model is not sure, or guessed a reply that needs checking: agree, refuse, admit or ask."""
    agreed = agreed_intent(turn, answered, t)
    if agreed:
        return Decision("answer", "both opinions agree", intent=agreed)
    if where_with_place(turn, answered, t):
        return Decision("answer", "a place and the who-approves guess", intent=WHERE_INTENT)
    near = closest(turn, answered)
    if off_topic(turn, answered, t):
        # in a conversation about the licence, a message no example calls off-topic belongs to it
        # (「我们今年已经过了截止日期还没报，咋整」 after the annual report)
        carries_on = bool(turn.previous_fact) and not closest_is_off_topic(turn)
        if not turn.in_field and not carries_on:
            return Decision("off_topic", "nothing of our field")
        if not names_field(turn) and closest_is_off_topic(turn):  # 「食品经营许可证要什么材料」
            return Decision("off_topic", "another field's licence words only")
        if near < t.near:  # names our field but is like none of our questions: say so honestly
            return Decision("honest", "in the field, like no question of ours", response="utter_no_fact")
    if turn.failed_before:
        return Decision("consultant", "unsure twice in a row")
    guess = turn.ranking[0][0] if turn.ranking else None
    if guess in HONEST_REPLIES and near < t.in_scope:
        return Decision("honest", "model's guess", response=HONEST_REPLIES[guess])
    if 0 <= near < t.near:  # about our field, but like none of the questions we answer
        return Decision("honest", "like no question of ours", response="utter_no_fact")
    return Decision("clarify", "closest questions", candidates=candidates(turn, answered, t))


def where_with_place(turn: Turn, answered: frozenset | set, t: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """An unsure model with who approves among its two best guesses (at least ``second_opinion_support``),
    about a message that names a place or a scope itself (「青岛的公司，只接本地的话务，许可证找哪里批」): the
    answer's variant names that bureau, and a wrong guess costs little, as it says which licence the case
    needs."""
    if WHERE_INTENT not in answered or not {"province", "licence_scope"} & set(turn.said):
        return False
    return any(name == WHERE_INTENT and c >= t.second_opinion_support for name, c in turn.ranking[:2])


def unsupported(turn: Turn, t: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """A sure model with nothing behind it: no word of our field, and no training example of its question
    near (「我家宽带老是掉线，应该找谁报修」 read as the licence types question with 0.89)."""
    if not turn.retrieval or turn.in_field is not False or turn.intent is None:
        return False
    return closest(turn, {turn.intent}) < t.near


def names_field(turn: Turn) -> bool:
    """Whether the message names our field itself (a call-centre word, 全网/地网, a number type …)."""
    return bool(turn.in_field if turn.names_field is None else turn.names_field)


def is_uncertain(turn: Turn, t: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """Gate the answer itself: too little confidence, or a close second answer."""
    if turn.confidence is None:
        return False
    ranking = [c for name, c in turn.ranking if name != FALLBACK]
    second = ranking[1] if len(ranking) > 1 else 0.0
    return turn.confidence < t.answer_min_confidence or turn.confidence - second < t.answer_min_margin


def is_situation(turn: Turn, t: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """A registered capital with a can-we-apply question.

    When the model is unsure, it is enough that its two best guesses both ask for a verdict
    (「能办吗」 read as the conditions or as the capital question: the answer is the same).
    """
    if "capital" not in turn.entities or closest_is_off_topic(turn):  # 「想贷款20万」 names an amount too
        return False
    if not is_uncertain(turn, t) and turn.intent != FALLBACK:
        return turn.intent in VERDICT_INTENTS
    names = [name for name, _ in turn.ranking]
    return bool(names) and all(name in VERDICT_INTENTS for name in names[:2])


def sole_trader_asks(turn: Turn, t: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """A sole trader (个体工商户) asking whether it needs or can get the licence: the answer is that the
    applicant must be a company, whatever else the question is about."""
    if turn.entities.get("company_type") != "个体户" or turn.intent in FOLLOWUPS:
        return False
    if turn.intent == FALLBACK or is_uncertain(turn, t):
        # the model unsure what else is asked: a sole trader who names itself in the message asks about the
        # licence for itself (「我现在拿的是个体工商户的执照，能直接去申请这个证吗」)
        return "company_type" in turn.said and names_field(turn)
    return turn.intent in VERDICT_INTENTS or turn.intent == "ask_exemptions"


def second_opinion(turn: Turn, answered: frozenset | set, t: Thresholds = DEFAULT_THRESHOLDS) -> Optional[str]:
    """The answered question the retrieval second opinion prefers to the model's unsure one, or None."""
    if turn.intent not in answered or turn.confidence is None or turn.confidence >= t.second_opinion_below:
        return None
    if not turn.retrieval:
        return None
    name, similarity = turn.retrieval[0]
    # a message naming nothing of the field needs an example really close (「what is your favourite food」 is
    # 0.4 like an English question about fines)
    needed = t.second_opinion_similarity if turn.in_field is not False else t.in_scope
    support = dict(turn.ranking).get(name, 0.0)
    if name != turn.intent and name in answered and similarity >= needed and support >= t.second_opinion_support:
        return name
    return None


def agreed_intent(turn: Turn, answered: frozenset | set, t: Thresholds = DEFAULT_THRESHOLDS) -> Optional[str]:
    """The answered question both the model (its best guess) and the second opinion name, or None."""
    if not turn.ranking or not turn.retrieval:
        return None
    (guess, confidence), (closest_name, similarity) = turn.ranking[0], turn.retrieval[0]
    if (
        guess == closest_name
        and guess in answered
        and confidence >= t.agreement_confidence
        and similarity >= t.agreement_similarity
    ):
        return guess
    return None


def closest_is_off_topic(turn: Turn) -> bool:
    """Whether the second opinion's closest training example is an off-topic one."""
    return bool(turn.retrieval) and turn.retrieval[0][0] == OFF_TOPIC


def closest(turn: Turn, intents: frozenset | set) -> float:
    """The best similarity of an example of one of ``intents``, or -1 when there is no second opinion."""
    if not turn.retrieval:
        return -1.0
    return max((s for name, s in turn.retrieval if name in intents), default=0.0)


def off_topic(turn: Turn, answered: frozenset | set, t: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """Whether the opinions say the message is off-topic (what the message names is weighed by the caller).

    Off-topic when the closest training example is an off-topic one; or the model's best guess is
    off-topic and no in-scope example is close; or the message names nothing of our field and is
    like no in-scope example at all. Without a second opinion: the model's best guess decides.
    """
    guess = next((name for name, _ in turn.ranking if name not in NOT_ANSWERS), None)
    if not turn.retrieval:
        return guess == OFF_TOPIC or (guess is None and turn.intent == OFF_TOPIC)
    in_scope = max((s for name, s in turn.retrieval if name in answered or name in HONEST_REPLIES), default=0.0)
    anything = max((s for name, s in turn.retrieval if name != OFF_TOPIC), default=0.0)
    return (
        closest_is_off_topic(turn)
        or (guess == OFF_TOPIC and in_scope < t.in_scope)
        or (turn.in_field is False and anything < t.near)
    )


def candidates(turn: Turn, answered: frozenset | set, t: Thresholds = DEFAULT_THRESHOLDS) -> Tuple[str, ...]:
    """The answered questions that could be meant, best first, at most ``MAX_CHOICES``.

    The model's ranking, re-ordered by the retrieval second opinion: an intent scores its confidence
    plus its closest example's similarity.
    """
    scores: Dict[str, float] = {
        name: confidence
        for name, confidence in turn.ranking
        if name not in NOT_ANSWERS and confidence >= t.min_candidate_confidence
    }
    for name, similarity in turn.retrieval:
        if name not in NOT_ANSWERS:
            scores[name] = scores.get(name, 0.0) + similarity
    ranked = sorted(scores, key=lambda name: -scores[name])
    return tuple(name for name in ranked if name in answered)[:MAX_CHOICES]
