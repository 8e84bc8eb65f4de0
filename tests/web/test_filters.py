"""The console's template filters (web/filters.py): Beijing time, paging links, lead statuses in Chinese."""

from __future__ import annotations

import datetime as dt

from werkzeug.datastructures import MultiDict

from web.filters import beijing_time, lead_status, urlencode_without


def test_beijing_time_is_how_staff_read_the_clock():
    year = dt.datetime.now(dt.timezone.utc).year
    assert beijing_time(f"{year}-11-29T10:45:03.512345Z") == "11月29日 18:45"
    assert beijing_time(dt.datetime(year, 12, 31, 16, 5)) == f"{year + 1}年1月1日 00:05"
    assert beijing_time(f"{year}-11-29T10:45:03Z", full=True) == f"{year}-11-29 18:45:03"  # the header names the zone
    assert beijing_time("2019-01-02T00:00:00Z") == "2019年1月2日 08:00"
    assert beijing_time(None) == "" and beijing_time("not a time") == "not a time"


def test_a_paging_link_keeps_every_filter_but_the_page():
    args = MultiDict([("q", "全网"), ("page", "3"), ("channel", "rest"), ("channel", "socketio")])
    assert urlencode_without(args, "page") == "q=%E5%85%A8%E7%BD%91&channel=rest&channel=socketio"


def test_lead_statuses_read_in_chinese():
    assert [lead_status(s) for s in ("new", "contacted", "qualified", "won", "lost")] == [
        "新线索",
        "已联系",
        "有意向",
        "已成交",
        "已流失",
    ]
    assert lead_status("archived") == "archived" and lead_status(None) == ""
