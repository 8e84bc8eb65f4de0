"""The parse cache answers a text the model has read before with the same result, without running it again."""

from __future__ import annotations

from types import SimpleNamespace

from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.engine.constants import PLACEHOLDER_MESSAGE
from rasa.shared.nlu.training_data.message import Message

from bot.plugins import nlu_cache
from bot.plugins.nlu.normalizer import ChineseNormalizer


class Pipeline:
    """A stand-in for the model's graph: the normaliser, then an intent from the text; counts its runs."""

    def __init__(self) -> None:
        self.runs = 0
        self.normalizer = ChineseNormalizer(ChineseNormalizer.get_default_config())

    def run(self, inputs: dict, targets: list) -> dict:
        self.runs += 1
        message = Message(data={"text": inputs[PLACEHOLDER_MESSAGE][0].text}, output_properties={"text"})
        self.normalizer.process([message])
        intent = "ask_types" if "全网" in message.get("text") else "other"
        message.set("intent", {"name": intent, "confidence": 0.9}, add_to_output=True)
        return {targets[0]: [message]}


def processor(model_id: str = "model-1", normalizer: bool = True) -> SimpleNamespace:
    nodes = {"normalizer": SimpleNamespace(uses=ChineseNormalizer, config={})} if normalizer else {}
    metadata = SimpleNamespace(model_id=model_id, nlu_target="nlu", predict_schema=SimpleNamespace(nodes=nodes))
    return SimpleNamespace(model_metadata=metadata, graph_runner=Pipeline())


def parse(target: SimpleNamespace, text: str) -> dict:
    nlu_cache.install()  # the size is settings' (2 000) unless another test installed it first
    return MessageProcessor._parse_message_with_graph(target, UserMessage(text), None)


def test_a_repeated_text_is_answered_from_the_cache_with_the_same_result():
    model = processor()
    first = parse(model, "全网和地网有什么区别")
    again = parse(model, "全网和地网有什么区别")
    assert again == first and model.graph_runner.runs == 1
    again["intent"]["name"] = "changed"  # a turn changing its copy changes nothing for the next
    assert parse(model, "全网和地网有什么区别") == first


def test_texts_the_normaliser_makes_equal_share_one_entry():
    model = processor()
    simplified = parse(model, "全网和地网有什么区别")
    traditional = parse(model, "全網和地網有什麼區別")
    assert traditional == simplified and model.graph_runner.runs == 1


def test_without_the_normaliser_only_the_same_text_hits():
    model = processor(normalizer=False)
    parse(model, "全网和地网有什么区别")
    parse(model, "全網和地網有什麼區別")
    assert model.graph_runner.runs == 2


def test_payloads_and_other_models_are_not_served_from_the_cache():
    model = processor()
    parse(model, "/greet")
    parse(model, "/greet")
    assert model.graph_runner.runs == 2
    other = processor("model-2")
    parse(model, "全网")
    parse(other, "全网")
    assert other.graph_runner.runs == 1


def test_the_cache_keeps_at_most_its_size():
    cache = nlu_cache.ParseCache("model-1", str, size=3)
    for text in ["一", "二", "三", "四"]:
        cache.put(cache.key(text), {"text": text})
    assert cache.get(cache.key("一")) is None  # dropped to make room for 四
    assert cache.get(cache.key("四")) == {"text": "四"} and len(cache._results) == 3
