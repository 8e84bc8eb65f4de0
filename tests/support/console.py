"""Logging in to the staff console through its HTML forms (a Flask test client)."""
from __future__ import annotations

import re


def csrf(client, path="/console/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, name, password):
    return client.post("/console/login", data={"username": name, "password": password,
                                               "csrf_token": csrf(client)})
