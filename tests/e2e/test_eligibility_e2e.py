"""The eligibility pre-check through the REST channel of the running stack."""

import uuid


def visitor() -> str:
    return f"elig-{uuid.uuid4().hex}"


def test_pre_check_asks_only_what_it_does_not_know(stack):
    sender = visitor()
    stack.text(sender, "我们是外资公司，注册资本500万")
    first = stack.text(sender, "帮我看看我们公司能不能办")
    assert "覆盖几个省" in first
    # company type and capital came earlier in the conversation: not asked again
    second = stack.text(sender, "我们业务覆盖全国")
    assert "失信名单" in second and "注册资本是多少" not in second and "内资、外资" not in second
    stack.text(sender, "没有")
    verdict = stack.text(sender, "有的")
    assert "还不能申请全网" in verdict
    assert "不少于1000万元" in verdict and "可以申请地网" in verdict
    assert "依据：" in verdict and "顾问" in verdict


def test_invalid_answer_is_re_asked_with_a_hint(stack):
    sender = visitor()
    stack.text(sender, "帮我做个资格预审")
    stack.text(sender, '/inform{"licence_scope": "地网"}')
    stack.text(sender, '/inform{"company_type": "内资"}')
    hint = stack.text(sender, "不知道")
    assert "注册资本" in hint and "500万" in hint
    assert "失信名单" in stack.text(sender, "200万")


def test_changing_an_answer_and_a_question_mid_form(stack):
    sender = visitor()
    stack.text(sender, "帮我判断下能否申请")
    stack.text(sender, "只在一个省")
    answer = stack.text(sender, "年报什么时候截止")
    assert "3月31日" in answer and "内资、外资" in answer  # answered, then back to the form
    stack.text(sender, "个体户")
    stack.text(sender, "300万")
    # the visitor changes an earlier answer: the form takes it and asks its question again
    again = stack.text(sender, "其实我们要覆盖全国")
    assert "失信名单" in again
    stack.text(sender, "不是")
    verdict = stack.text(sender, "有")
    assert "个体户需先设立公司" in verdict
    assert "还不能申请全网" in verdict and "全网要求注册资本不少于1000万元" in verdict


def test_stopping_the_pre_check(stack):
    sender = visitor()
    stack.text(sender, "帮我看看我们公司能不能办")
    assert "已停止评估" in stack.text(sender, "算了")
    assert "依据：" in stack.text(sender, "注册资本要多少")
