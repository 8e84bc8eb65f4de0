"""Console login: staff users, session cookies checked against the database, CSRF, roles, login limits.

The signed cookie only says who logged in, with which ``session_version`` and
when. Every request looks the user up: a deleted user, a bumped version (logout,
new password) or a session older than SESSION_MAX_AGE is logged out, and the
role always comes from the database.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import Any, Callable, Optional, ParamSpec

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from bot.ratelimit import RateLimiter
from bot.store import staff as staff_store
from web import context

P = ParamSpec("P")
View = Callable[P, ResponseReturnValue]  # a view function, with whatever URL parameters it takes

bp = Blueprint("auth", __name__, url_prefix="/console")

MAX_FAILURES = 5
FAILURE_WINDOW = 15 * 60
SESSION_MAX_AGE = 12 * 3600  # from login, however busy the session is
LOGIN_PER_MINUTE = 60  # login attempts per address, whatever the user names
MAX_NAME = 100  # staff_users.name
# where a login may send the browser next: the console, with no control characters or backslashes
SAFE_NEXT = re.compile(r"/console(?:[/?#][^\x00-\x1f\x7f\\]*)?")

_now = time.time  # wall clock: the login time in the cookie outlives restarts


class FailedLogins:
    """Recent failed logins per (address, name) for at most ``max_keys`` pairs; the stalest are forgotten."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(address: Optional[str], name: str) -> str:
        """A fixed-size key, however long the name typed."""
        return hashlib.sha256(f"{address}\n{name}".encode("utf-8", "replace")).hexdigest()

    def locked(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            attempts = self._attempts.get(key)
            if attempts is None:
                return False
            while attempts and now - attempts[0] > FAILURE_WINDOW:
                attempts.popleft()
            if not attempts:
                del self._attempts[key]
                return False
            return len(attempts) >= MAX_FAILURES

    def record(self, key: str) -> None:
        with self._lock:
            attempts = self._attempts.pop(key, None) or deque(maxlen=MAX_FAILURES)
            attempts.append(time.monotonic())
            self._attempts[key] = attempts  # most recent last
            while len(self._attempts) > self.max_keys:
                self._attempts.popitem(last=False)

    def keys(self) -> list[str]:
        return list(self._attempts)

    def clear(self) -> None:
        with self._lock:
            self._attempts.clear()

    def __len__(self) -> int:
        return len(self._attempts)


_failures = FailedLogins()


@dataclass(frozen=True)
class Staff:
    name: str
    role: str


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    config = state.app.config["SETTINGS"]
    state.app.extensions["login_rate_limit"] = RateLimiter(LOGIN_PER_MINUTE, 60, config.redis_url or None, "rl:login")


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of nothing anyone knows: unknown users cost one scrypt, like known ones."""
    return staff_store.hash_password(secrets.token_hex(16))


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_matches(sent: Optional[str]) -> bool:
    """Compare as bytes: ``compare_digest`` refuses non-ASCII text with a TypeError."""
    expected = session.get("csrf") or ""
    if not sent or not expected:
        return False
    return secrets.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))


def current_staff() -> Optional[Staff]:
    """The staff user of this request's session, checked against the database; None when logged out."""
    if "console_staff" in g:
        return g.console_staff
    staff = None
    name, version, since = session.get("user"), session.get("version"), session.get("since")
    if (
        isinstance(name, str)
        and isinstance(version, int)
        and isinstance(since, int)
        and -300 <= _now() - since <= SESSION_MAX_AGE
    ):
        with context.session() as s:
            user = s.query(staff_store.StaffUser).filter_by(name=name).one_or_none()
            if user is not None and (user.session_version or 0) == version:
                staff = Staff(user.name, user.role)
    if staff is None and "user" in session:
        session.clear()  # revoked, expired or from an older cookie format: log out
    g.console_staff = staff
    return staff


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    staff = current_staff() if has_request_context() else None
    return {"csrf_token": csrf_token, "staff": staff.name if staff else None, "role": staff.role if staff else None}


@bp.before_app_request
def _check_csrf() -> None:
    """Every form POST to the console carries the session's CSRF token (the bearer API does not use cookies)."""
    changes_console = (
        request.method in ("POST", "PUT", "PATCH", "DELETE")
        and request.path.startswith("/console")
        and not request.path.startswith("/console/api/")
    )
    if changes_console and not csrf_matches(request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")):
        abort(403, description="CSRF token missing or wrong: reload the page and try again")


def login_required(role: str | None = None) -> Callable[[View[P]], View[P]]:
    """Require a logged-in staff user (and ``role`` when given: admin can do everything)."""

    def decorator(view: View[P]) -> View[P]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            staff = current_staff()
            if staff is None:
                return redirect(url_for("auth.login", next=request.path))
            if role and staff.role != role and staff.role != "admin":
                abort(403, description="your role cannot do this")
            g.staff, g.role = staff.name, staff.role
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _next_page() -> str:
    target = request.args.get("next") or ""
    return target if SAFE_NEXT.fullmatch(target) else url_for("auth.index")


@bp.get("/console.css")
def stylesheet() -> ResponseReturnValue:
    return send_from_directory(context.STATIC, "console.css", max_age=3600)


@bp.route("", methods=["GET"])
@bp.route("/", methods=["GET"])
def index() -> ResponseReturnValue:
    if current_staff() is None:
        return login()
    return redirect(url_for("console_conversations.list_view"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        if not current_app.extensions["login_rate_limit"].allow(request.remote_addr or "unknown"):
            return render_template("console/login.html", error="登录尝试过于频繁，请稍后再试。"), 429
        name = (request.form.get("username") or "").strip()
        key = _failures.key(request.remote_addr, name)
        if _failures.locked(key):
            return render_template("console/login.html", error="登录失败次数过多，请15分钟后再试。"), 429
        user = None
        if len(name) <= MAX_NAME:
            with context.session() as s:
                row = s.query(staff_store.StaffUser).filter_by(name=name).one_or_none()
                if row is not None:
                    user = (row.password_hash, row.session_version or 0)
        # the same scrypt runs whether or not the user exists
        ok = staff_store.check_password(request.form.get("password") or "", user[0] if user else _dummy_hash())
        if ok and user is not None:
            session.clear()
            session.permanent = True
            session["user"], session["version"], session["since"] = name, user[1], int(_now())
            return redirect(_next_page())
        _failures.record(key)
        error = "用户名或密码错误。"
    return render_template("console/login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Log out everywhere: every copy of this user's session cookie is refused from now on."""
    staff = current_staff()
    if staff is not None:
        with context.session() as s:
            staff_store.end_sessions(staff.name, session=s)
    session.clear()
    flash("已退出。")
    return redirect(url_for("auth.login"))


def token_required(view: View[P]) -> View[P]:
    """Accept ``Authorization: Bearer <token>`` or a logged-in console session; 401 otherwise."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        header = request.headers.get("Authorization", "")
        user = None if header else current_staff()
        if user is not None:
            # a cookie alone never authorises a change: writes also need the CSRF header
            if request.method != "GET" and not csrf_matches(request.headers.get("X-CSRF-Token")):
                return jsonify(error="CSRF token missing or wrong"), 403
            g.staff, g.role = user.name, user.role
            return view(*args, **kwargs)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return jsonify(error="authentication required: Authorization: Bearer <token>"), 401
        with context.session() as db_session:
            identity = staff_store.token_identity(token.strip(), session=db_session)
        if identity is None:
            return jsonify(error="invalid token"), 401
        g.staff, g.role = f"token:{identity[0]}", identity[1]
        return view(*args, **kwargs)

    return wrapped


def admin_required(view: View[P]) -> View[P]:
    """After ``token_required``: only admin users and admin tokens."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if g.role != "admin":
            return jsonify(error="this needs the admin role"), 403
        return view(*args, **kwargs)

    return wrapped
