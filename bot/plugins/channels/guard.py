"""Screen what visitors send on public channels before Rasa sees it.

Three checks, the same on the widget (socket.io), REST and WeChat:
- payloads: Rasa reads a text starting with ``/`` as an intent, entities and
  a confidence (``/EXTERNAL_handoff_ended``, ``/inform{"lead_phone": …}``,
  ``/ask_fees@0.1``). A visitor may send only the payloads the assistant's
  own buttons offer; anything else is kept as the visitor's text with a
  full-width slash (「／」), so it is understood as words, never as a command.
  The check looks at the text as the NLU pipeline reads it (bot/plugins/nlu/normalize.py
  drops zero-width and control characters and folds ／ into /), so
  ``"\u200b/restart"`` is screened like ``"/restart"``;
- size: empty messages and messages over ``MAX_MESSAGE_CHARS`` get a polite
  answer and are not stored;
- rate: more than ``RATE_LIMIT_PER_SENDER`` messages a minute from one
  conversation get a polite "slow down" and are not processed.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import yaml
from rasa.core.channels.channel import UserMessage

from bot import settings as settings_module
from bot.plugins.nlu.normalize import PAYLOAD_LEAD, Normalizer
from bot.ratelimit import RateLimiter

logger = logging.getLogger(__name__)

DOMAIN = settings_module.PROJECT_ROOT / "bot" / "domain.yml"
TRUSTED = "_trusted"  # metadata key a channel sets for callers holding the Rasa token; never stored
TRUST = object()  # its value: no JSON a client sends can produce this object

EMPTY = "请输入您想了解的问题，例如「全网和地网有什么区别」「申请需要哪些材料」。"
TOO_LONG = "您的消息有 {length} 字，超过了 {limit} 字的上限。请精简后再发，或直接说说您想了解什么。"
TOO_FAST = "您发送得有点快，请稍等一分钟再继续。如需人工帮助，可以留下称呼和手机号，顾问会联系您。"
BAD_REQUEST = "抱歉，这条消息的格式无法识别，请直接输入文字。"
UNAVAILABLE = "抱歉，系统暂时出了点问题，没能回答您的问题，请稍后再问一次。也可以{contact}。"

_PAYLOAD = re.compile(r"^/(?P<intent>[^{@\s]+)(?P<entities>\{.*\})?(?P<confidence>@.*)?$", re.DOTALL)


@lru_cache(maxsize=4)
def allowed_payloads(domain_path: Path = DOMAIN) -> tuple[frozenset, frozenset]:
    """Return (intents a button may send bare, canonical intent+entities pairs the domain's buttons send)."""
    domain = yaml.safe_load(Path(domain_path).read_text(encoding="utf-8")) or {}
    intents = frozenset((next(iter(i)) if isinstance(i, dict) else str(i)) for i in domain.get("intents", []))
    bare = frozenset(i for i in intents if not i.startswith("EXTERNAL_"))
    with_entities = set()
    for variants in (domain.get("responses") or {}).values():
        for variant in variants or []:
            for button in (variant or {}).get("buttons") or []:
                # responses escape braces for templating: {{ → {
                canonical = canonical_payload(str(button.get("payload", "")).replace("{{", "{").replace("}}", "}"))
                if canonical and canonical[1] and not canonical[2]:
                    with_entities.add(canonical[:2])
    return bare, frozenset(with_entities)


def canonical_payload(text: str) -> Optional[tuple[str, str, bool]]:
    """Parse ``/intent{json}@conf`` into (intent, sorted entities JSON, has confidence); None if not one."""
    match = _PAYLOAD.match(text.strip())
    if not match:
        return None
    entities = ""
    if match.group("entities"):
        try:
            parsed = json.loads(match.group("entities"))
        except ValueError:
            return match.group("intent"), "invalid", bool(match.group("confidence"))
        entities = json.dumps(parsed, sort_keys=True, ensure_ascii=False)
    return match.group("intent"), entities, bool(match.group("confidence"))


@lru_cache(maxsize=1)
def _normalizer() -> Normalizer:
    return Normalizer()


def offered(text: str, domain_path: Path = DOMAIN) -> bool:
    """Whether ``text`` is exactly a payload the assistant's buttons send (no confidence)."""
    bare, with_entities = allowed_payloads(domain_path)
    parsed = canonical_payload(text)
    if not parsed:
        return False
    intent, entities, has_confidence = parsed
    return not has_confidence and ((not entities and intent in bare) or (intent, entities) in with_entities)


def screen(text: str, domain_path: Path = DOMAIN) -> str:
    """Return ``text`` if it is plain text or a payload our buttons offer; otherwise defuse it."""
    stripped = text.strip()
    # the pipeline reads the normalised text; a lone surrogate (JSON allows it) is no character to it
    folded = _normalizer().fold(stripped.encode("utf-8", "replace").decode("utf-8"))
    if not stripped.startswith("/") and not folded.startswith("/"):
        return text
    if stripped.startswith("/") and offered(stripped, domain_path) and offered(folded, domain_path):
        return stripped
    logger.info("payload from a public channel treated as text: %.60r", stripped)
    return "／" + PAYLOAD_LEAD.sub("", stripped)


class Guard:
    """Wrap Rasa's ``on_new_message`` with the payload, size and rate checks."""

    def __init__(self, config: settings_module.Settings | None = None, domain_path: Path = DOMAIN) -> None:
        from bot.plugins import patches as rasa_patches

        rasa_patches.install()  # every public channel builds a guard once, when the Rasa server starts
        config = config or settings_module.current()
        self.contact = config.consultant_contact
        self.max_chars = config.max_message_chars
        self.domain_path = domain_path
        self.per_sender = RateLimiter(config.rate_limit_sender, 60, config.redis_url or None, "rl:sender")
        self.per_ip = RateLimiter(config.rate_limit_ip, 60, config.redis_url or None, "rl:ip")

    def refusal(self, text: Any, sender_id: str, trusted: bool = False, check_rate: bool = True) -> Optional[str]:
        """Return the polite answer for a message that must not reach Rasa, or None."""
        if not isinstance(text, str):
            return BAD_REQUEST
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: valid JSON, but no text
            return BAD_REQUEST
        if not text.strip():
            return EMPTY
        if len(text) > self.max_chars:
            return TOO_LONG.format(length=len(text), limit=self.max_chars)
        if check_rate and not trusted and not self.per_sender.allow(sender_id):
            logger.warning(
                "rate limit: conversation %s… over %d messages a minute", str(sender_id)[:6], self.per_sender.limit
            )
            return TOO_FAST
        return None

    def wrap(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]], screen_payloads: bool = True
    ) -> Callable[[UserMessage], Awaitable[Any]]:
        """Return ``on_new_message`` behind the checks; a refused message is answered, not stored."""

        async def guarded(message: UserMessage) -> Any:
            metadata = message.metadata if isinstance(message.metadata, dict) else {}
            trusted = metadata.pop(TRUSTED, None) is TRUST
            refusal = self.refusal(message.text, message.sender_id, trusted)
            if refusal:
                await message.output_channel.send_text_message(message.sender_id, refusal)
                return None
            if screen_payloads and not trusted:
                message.text = screen(message.text, self.domain_path)
            sent = []
            output, send_response = message.output_channel, message.output_channel.send_response

            async def counting(recipient_id: str, response: dict) -> None:
                sent.append(response)
                await send_response(recipient_id, response)

            output.send_response = counting  # this message's own output channel
            try:
                return await on_new_message(message)
            finally:
                output.send_response = send_response
                # Rasa logs a failed custom action and carries on silently: say so, with the contact
                if not sent and not await actions_alive():
                    logger.error("no answer for %s…: the action server is unreachable", str(message.sender_id)[:6])
                    await output.send_text_message(message.sender_id, UNAVAILABLE.format(contact=self.contact))

        return guarded


async def actions_alive(timeout: float = 2) -> bool:
    """Whether the action server (ACTION_ENDPOINT_URL) answers its health check."""
    import aiohttp

    url = settings_module.current().action_endpoint_url
    if not url:
        return True
    health = url.rsplit("/", 1)[0] + "/health"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(health) as response,
        ):
            return response.status == 200
    except Exception:  # refused, timed out, DNS: all mean no answers now
        return False
