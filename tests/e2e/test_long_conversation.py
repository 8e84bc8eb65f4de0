"""A long conversation (a WeChat follower's never ends) is answered from all of it, and all of it is stored."""

from __future__ import annotations

import uuid

import requests

FILLER = ["年报什么时候报", "审批要多久", "有效期几年", "95号码怎么申请"]


def test_what_the_visitor_said_at_the_start_still_shapes_the_answer_many_turns_later(stack):
    sender = f"long-{uuid.uuid4().hex}"
    # trusted: the test types faster than the per-conversation rate limit allows a visitor
    stack.say(sender, "我们是个体户", trusted=True)
    for number in range(60):
        assert stack.say(sender, FILLER[number % len(FILLER)], trusted=True)
    late = "\n".join(m.get("text", "") for m in stack.say(sender, "注册资本500万能办吗", trusted=True))
    assert "个体户需先设立公司" in late  # the company type told 61 turns earlier
    fresh = stack.text(f"long-{uuid.uuid4().hex}", "注册资本500万能办吗")
    assert "个体户" not in fresh  # nobody told this one

    tracker = requests.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": stack.token}, timeout=30
    ).json()
    users = [event["text"] for event in tracker["events"] if event["event"] == "user"]
    assert len(users) == 62 and users[0] == "我们是个体户"  # every turn stored, in order
