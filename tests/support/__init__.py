"""Helpers shared by the test modules (and by bench/): import them from here, never from another test module.

stack.py        the whole assistant (`python -m services.run`) on free ports, and its processes by PID
servers.py      throw-away PostgreSQL and Redis servers
fake_wechat.py  a local stand-in for WeChat's API;  fake_rasa.py: one for Rasa's HTTP API
sinks.py        a local webhook receiving lead notifications
wechat.py       requests signed and encrypted as WeChat sends them
evaluation.py   a realistic-set case and a fact answer, for the evaluation tests
widget.py       a widget visitor on Rasa's socket.io channel
console.py      logging in to the staff console (a Flask test client, or a running stack's staff users,
                tokens and browser-like sessions)
browser.py      Debian's chromium for Playwright, and where screenshots go
config.py       settings for a test process
databases.py    the project's facts folder, copies of a database prepared once per run
facts_files.py  a small valid facts file, and a writer for files a test needs
authority.py    reading who an answer says approves the licence (the consistency and foreign-investor tests)
actions.py      a custom action run on a tracker built from a parse
nlu.py          the entity extraction as Rasa runs it, without a model
"""
