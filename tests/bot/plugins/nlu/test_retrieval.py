"""The retrieval second opinion: built from the training examples, stored with the model, fast."""

from __future__ import annotations

import time

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.plugins.nlu.augment import AUGMENTED
from bot.plugins.nlu.retrieval import ELSEWHERE, IN_FIELD, NAMES_FIELD, RETRIEVAL, RetrievalSecondOpinion
from bot.settings import PROJECT_ROOT

EXAMPLES = [
    ("注册资本要多少", "ask_capital"),
    ("全网要多少注册资本", "ask_capital"),
    ("年报什么时候交", "ask_annual_report"),
    ("年报在哪里报", "ask_annual_report"),
    ("今天天气怎么样", "out_of_scope"),
    ("讲个笑话", "out_of_scope"),
]


def component(tmp_path, **config):
    storage = LocalModelStorage(tmp_path)
    resource = Resource("retrieval")
    context = ExecutionContext(GraphSchema({}), "test")
    defaults = {
        **RetrievalSecondOpinion.get_default_config(),
        "dictionary_path": str(PROJECT_ROOT / "bot" / "dictionary"),
        **config,
    }
    return storage, resource, context, defaults


@pytest.fixture
def loaded(tmp_path):
    storage, resource, context, config = component(tmp_path)
    trained = RetrievalSecondOpinion.create(config, storage, resource, context)
    trained.train(TrainingData([Message(data={TEXT: text, "intent": intent}) for text, intent in EXAMPLES]))
    return RetrievalSecondOpinion.load(config, storage, resource, context)


def parse(component, text, entities=()):
    message = Message(data={TEXT: text, ENTITIES: list(entities)})
    component.process([message])
    return message


def test_the_closest_examples_intent_comes_first_and_is_stored_with_the_model(loaded):
    ranking = parse(loaded, "注册资本最少要多少钱").get(RETRIEVAL)
    assert ranking[0]["name"] == "ask_capital"
    assert 0 < ranking[-1]["similarity"] <= ranking[0]["similarity"] <= 1
    assert parse(loaded, "明天天气好吗").get(RETRIEVAL)[0]["name"] == "out_of_scope"


def test_the_field_is_told_by_its_words_and_entities_but_not_by_amounts_or_places(loaded):
    assert parse(loaded, "年报什么时候截止").get(IN_FIELD) is True  # 年报: the domain dictionary
    assert parse(loaded, "我们想做客服外包").get(IN_FIELD) is True  # bot/lexicon/field.yml
    assert parse(loaded, "离婚房子怎么分").get(IN_FIELD) is False
    assert parse(loaded, "想贷款20万", [{"entity": "capital", "value": 20}]).get(IN_FIELD) is False
    assert parse(loaded, "只在本省做", [{"entity": "licence_scope", "value": "地网"}]).get(IN_FIELD) is True


def test_beside_another_fields_paper_only_our_proper_words_name_the_field(loaded):
    driving = parse(loaded, "驾驶证快到期了,换证要带什么")  # 换证 is said of any paper
    assert (driving.get(ELSEWHERE), driving.get(NAMES_FIELD)) == (True, False)
    food = parse(loaded, "食品经营许可证多久能下来")
    assert (food.get(ELSEWHERE), food.get(NAMES_FIELD)) == (True, False)
    both = parse(loaded, "有了食品经营许可证还要办呼叫中心许可证吗")
    assert (both.get(ELSEWHERE), both.get(NAMES_FIELD)) == (True, True)
    ours = parse(loaded, "我们的证快到期了,换证要带什么")
    assert (ours.get(ELSEWHERE), ours.get(NAMES_FIELD)) == (False, True)


def test_the_copies_with_a_visitors_story_are_left_out_of_the_index(tmp_path):
    storage, resource, context, config = component(tmp_path)
    trained = RetrievalSecondOpinion.create(config, storage, resource, context)
    story = Message(data={TEXT: "公司在成都，今天天气怎么样", "intent": "ask_capital", AUGMENTED: True})
    trained.train(TrainingData([*(Message(data={TEXT: t, "intent": i}) for t, i in EXAMPLES), story]))
    loaded = RetrievalSecondOpinion.load(config, storage, resource, context)
    ranking = parse(loaded, "公司在成都，今天天气怎么样").get(RETRIEVAL)
    assert ranking[0]["name"] == "out_of_scope"


def test_an_off_topic_example_naming_another_fields_paper_does_not_make_our_question_off_topic(tmp_path):
    storage, resource, context, config = component(tmp_path)
    trained = RetrievalSecondOpinion.create(config, storage, resource, context)
    paper = Message(data={TEXT: "卫生许可证多久能批下来", "intent": "out_of_scope"})
    ours = Message(data={TEXT: "呼叫中心许可证审批要几个月", "intent": "ask_time_limit"})
    trained.train(TrainingData([*(Message(data={TEXT: t, "intent": i}) for t, i in EXAMPLES), paper, ours]))
    loaded = RetrievalSecondOpinion.load(config, storage, resource, context)
    assert parse(loaded, "多久能批下来").get(RETRIEVAL)[0]["name"] != "out_of_scope"
    assert parse(loaded, "今天天气怎么样啊").get(RETRIEVAL)[0]["name"] == "out_of_scope"  # the others stay


def test_a_button_payload_gets_no_second_opinion(loaded):
    assert parse(loaded, "/ask_capital").get(RETRIEVAL) is None


def test_a_message_costs_well_under_a_few_milliseconds(loaded):
    started = time.perf_counter()
    for _ in range(200):
        parse(loaded, "我们公司在杭州，注册资本300万，想做全国客户的客服外包，能办吗")
    assert (time.perf_counter() - started) / 200 < 0.005


def test_the_worst_message_of_the_channels_length_costs_time_linear_in_it(loaded):
    """Near-misses of the field's words and of other fields' papers (驾驶, 呼叫中, 食品经营许) at the channel's
    limit (MAX_MESSAGE_CHARS, 1000) and four times that: about four times the cost, not sixteen."""
    unit = "驾驶呼叫中食品经营许证快到,"

    def cost(length):
        text = (unit * (length // len(unit) + 1))[:length]
        start = time.thread_time()
        for _ in range(5):
            parse(loaded, text)
        return time.thread_time() - start

    cost(1000)  # warm up
    assert cost(4000) < 8 * cost(1000)


def test_a_model_trained_without_intent_examples_loads_and_says_nothing(tmp_path):
    storage, resource, context, config = component(tmp_path)
    loaded = RetrievalSecondOpinion.load(config, storage, resource, context)
    assert parse(loaded, "年报").get(RETRIEVAL) is None


def test_each_clause_of_a_two_question_message_gets_its_closest_question(loaded):
    from bot.plugins.nlu.retrieval import CLAUSES, MAX_CLAUSES

    clauses = parse(loaded, "全网要多少注册资本,年报在哪里报").get(CLAUSES)
    assert [c["name"] for c in clauses] == ["ask_capital", "ask_annual_report"]
    assert parse(loaded, "全网要多少注册资本").get(CLAUSES) is None  # one question: nothing more
    assert parse(loaded, "注册资本要多少,好").get(CLAUSES) is None  # a clause too short to ask
    many = parse(loaded, ",".join(["年报在哪里报"] * 200)).get(CLAUSES)
    assert len(many) == MAX_CLAUSES
