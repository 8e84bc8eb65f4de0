"""The console's template filters, registered for the whole app (every screen shows times the same way)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from flask import Flask
from werkzeug.datastructures import MultiDict

from bot.store.leads import STATUS_LABELS

# China has kept UTC+8, without summer time, since 1991: no time zone database needed
BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")


def beijing_time(value: str | dt.datetime | None, full: bool = False) -> str:
    """A UTC time (ISO text or naive datetime) in Beijing time as staff read it: 「11月29日 18:45」.

    The zone is not repeated here: the console's header names it once for every page.
    ``full`` gives the whole time (「2026-11-29 18:45:03」) for a title or a tooltip.
    """
    if not value:
        return ""
    if isinstance(value, str):
        try:
            when = dt.datetime.fromisoformat(value.removesuffix("Z"))
        except ValueError:
            return value
    else:
        when = value
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    local = when.astimezone(BEIJING)
    if full:
        return local.strftime("%Y-%m-%d %H:%M:%S")
    text = f"{local.month}月{local.day}日 {local:%H:%M}"
    return text if local.year == dt.datetime.now(BEIJING).year else f"{local.year}年{text}"


def urlencode_without(args: MultiDict[str, str], name: str) -> str:
    """Query string of ``args`` without ``name`` (for paging links)."""
    return urlencode([(k, v) for k, v in args.items(multi=True) if k != name])


def lead_status(status: str | None) -> str:
    """A lead's status as staff read it (「已联系」); an unknown code is shown as it is."""
    return STATUS_LABELS.get(status or "", status or "")


def register(app: Flask) -> None:
    """Make the filters available to every template of ``app``."""
    app.add_template_filter(beijing_time, "beijing_time")
    app.add_template_filter(urlencode_without, "urlencode_without")
    app.add_template_filter(lead_status, "lead_status")
