"""Console login: staff users, session cookies, CSRF, roles and a failed-login limit."""
from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict, deque
from functools import wraps

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)

from bot import db, leads

bp = Blueprint("auth", __name__, url_prefix="/console")

MAX_FAILURES = 5
FAILURE_WINDOW = 15 * 60
_failures: dict = defaultdict(deque)
_failures_lock = threading.Lock()


def _url() -> str:
    return current_app.config["SETTINGS"].database_url


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@bp.app_context_processor
def _template_helpers():
    return {"csrf_token": csrf_token, "staff": session.get("user"), "role": session.get("role")}


@bp.before_app_request
def _check_csrf():
    """Every form POST to the console carries the session's CSRF token (the bearer API does not use cookies)."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.path.startswith("/console") \
            and not request.path.startswith("/console/api/"):
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
        if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
            abort(403, description="CSRF token missing or wrong: reload the page and try again")


def login_required(role: str | None = None):
    """Require a logged-in staff user (and ``role`` when given: admin can do everything)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if "user" not in session:
                return redirect(url_for("auth.login", next=request.path))
            if role and session.get("role") != role and session.get("role") != "admin":
                abort(403, description="your role cannot do this")
            g.staff = session["user"]
            return view(*args, **kwargs)
        return wrapped
    return decorator


def _too_many_failures(key: str) -> bool:
    now = time.monotonic()
    with _failures_lock:
        attempts = _failures[key]
        while attempts and now - attempts[0] > FAILURE_WINDOW:
            attempts.popleft()
        return len(attempts) >= MAX_FAILURES


def _record_failure(key: str) -> None:
    with _failures_lock:
        _failures[key].append(time.monotonic())


@bp.route("", methods=["GET"])
@bp.route("/", methods=["GET"])
def index():
    if "user" not in session:
        return login()
    return redirect(url_for("console_conversations.list_view"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        name = (request.form.get("username") or "").strip()
        key = f"{request.remote_addr}:{name}"
        if _too_many_failures(key):
            return render_template("console/login.html", error="登录失败次数过多，请15分钟后再试。"), 429
        with db.session_scope(_url()) as s:
            user = s.query(leads.StaffUser).filter_by(name=name).one_or_none()
            ok = user is not None and leads.check_password(request.form.get("password") or "", user.password_hash)
            role = user.role if user else None
        if ok:
            session.clear()
            session.permanent = True
            session["user"], session["role"] = name, role
            target = request.args.get("next") or ""
            return redirect(target if target.startswith("/console") else url_for("auth.index"))
        _record_failure(key)
        error = "用户名或密码错误。"
    return render_template("console/login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    session.clear()
    flash("已退出。")
    return redirect(url_for("auth.login"))
