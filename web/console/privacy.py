"""Phone numbers in visitor text, masked for staff who may not see them in full (agents, agent tokens)."""

from __future__ import annotations

import re
from typing import Any

from flask import g

from bot.store.leads import mask_phone

_D = "[0-9\uff10-\uff19]"  # ASCII and full-width digits
_MOBILE = rf"(?:[+\uff0b]?(?:86|\uff18\uff16)[ -]?)?[1\uff11][3-9\uff13-\uff19]{_D}(?:[ -]?{_D}{{4}}){{2}}"
_LANDLINE = rf"[0\uff10]{_D}{{2,3}}[ -]?{_D}{{7,8}}"
PHONE = re.compile(rf"(?<!{_D})(?:{_MOBILE}|{_LANDLINE})(?!{_D})")
# three digits or more, spaces, dots or dashes between them allowed: what a search for part of a phone looks like
DIGIT_RUN = re.compile(rf"{_D}(?:[\s.\-]*{_D}){{2}}")
_FULL_WIDTH = str.maketrans("\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19", "0123456789")


def _masked(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0).translate(_FULL_WIDTH))
    if len(digits) > 11 and digits.startswith("86") and digits[2] == "1":
        digits = digits[2:]
    return mask_phone(digits)


def mask_phones(text: str) -> str:
    """Mask mainland mobiles (+86, spaces, dashes, full-width digits) and landlines in free text."""
    return PHONE.sub(_masked, text)


def mask_deep(value: Any) -> Any:
    """``mask_phones`` on every string inside lists and dicts (transcript items, summaries)."""
    if isinstance(value, str):
        return mask_phones(value)
    if isinstance(value, list):
        return [mask_deep(item) for item in value]
    if isinstance(value, dict):
        return {key: mask_deep(item) for key, item in value.items()}
    return value


def sees_full_phones() -> bool:
    """Only admins (users or tokens) see phone numbers in full."""
    return g.get("role") == "admin"


def probes_phones(query: str | None) -> bool:
    """Whether a search for ``query`` could tell whether some conversation holds a given phone number.

    Search runs over the visitors' own words, phones unmasked: for staff who see phones masked, three digits
    or more in a query answer "is 139… in there?" (S3), so such queries are refused for them.
    """
    return bool(query) and not sees_full_phones() and DIGIT_RUN.search(query or "") is not None
