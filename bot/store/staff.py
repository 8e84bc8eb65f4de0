"""Staff users (console logins) and API tokens: models, password hashing and queries."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from typing import Optional

from sqlalchemy import Column, DateTime, Integer, String, select
from sqlalchemy.orm import Session

from bot.db import Base, utcnow


class StaffUser(Base):
    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    name = Column(String(100), unique=True, nullable=False)
    role = Column(String(10), nullable=False)
    password_hash = Column(String(300), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    # bumped on logout and password change: console sessions signed with an older value are refused
    session_version = Column(Integer, nullable=False, default=0, server_default="0")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    token_hash = Column(String(64), unique=True, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    role = Column(String(10), nullable=False, default="agent", server_default="agent")
    revoked_at = Column(DateTime, nullable=True)


ROLES = ("admin", "agent")
STAFF_NAME = re.compile(r"[\w.@-]{1,100}")  # no ":" (API tokens act as "token:NAME"), no spaces
TOKEN_NAME = re.compile(r"[\w.@-]{1,90}")  # "token:NAME" fits handoffs.agent (100)


def hash_password(password: str, *, salt: Optional[bytes] = None) -> str:
    """scrypt (a slow, memory-hard KDF) with a random salt."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        computed = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed.hex(), digest)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")


def _check_password_rules(password: str) -> None:
    if len(password) < 10:
        raise ValueError("the password must have at least 10 characters")


def _user(name: str, session: Session) -> StaffUser:
    user = session.execute(select(StaffUser).where(StaffUser.name == name)).scalar_one_or_none()
    if user is None:
        raise ValueError(f"no user named {name!r}")
    return user


def first_version() -> int:
    """A new user's session_version: random, with room below 2**31 (PostgreSQL's integer) for every logout."""
    return secrets.randbelow(2**30) + 1


def create_user(name: str, role: str, password: str, *, session: Session) -> StaffUser:
    _check_role(role)
    if not STAFF_NAME.fullmatch(name):
        raise ValueError("a user name has 1-100 letters, digits or . _ @ - (no spaces or colons)")
    _check_password_rules(password)
    if session.execute(select(StaffUser).where(StaffUser.name == name)).scalar_one_or_none():
        raise ValueError(f"a user named {name!r} already exists")
    # a random first version: a cookie kept from a deleted namesake (signed with its version) opens nothing (S4)
    user = StaffUser(name=name, role=role, password_hash=hash_password(password), session_version=first_version())
    session.add(user)
    return user


def list_users(*, session: Session) -> list[StaffUser]:
    return list(session.execute(select(StaffUser).order_by(StaffUser.name)).scalars())


def set_role(name: str, role: str, *, session: Session) -> None:
    """Change a user's role; open sessions get the new role at their next request."""
    _check_role(role)
    _user(name, session).role = role


def set_password(name: str, password: str, *, session: Session) -> None:
    """Set a new password and end every open session of the user."""
    _check_password_rules(password)
    user = _user(name, session)
    user.password_hash = hash_password(password)
    user.session_version = (user.session_version or 0) + 1


def end_sessions(name: str, *, session: Session) -> None:
    """Log the user out everywhere (every console cookie signed so far is refused)."""
    user = session.execute(select(StaffUser).where(StaffUser.name == name)).scalar_one_or_none()
    if user is not None:
        user.session_version = (user.session_version or 0) + 1


def delete_user(name: str, *, session: Session) -> None:
    """Delete a user; their open sessions are refused at the next request."""
    session.delete(_user(name, session))


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(name: str, *, session: Session, role: str = "agent") -> str:
    """Create an API token; only its hash is stored, so it is shown once. One live token per name."""
    _check_role(role)
    if not TOKEN_NAME.fullmatch(name):
        raise ValueError("a token name has 1-90 letters, digits or . _ @ - (no spaces or colons)")
    if session.execute(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).first():
        raise ValueError(f"a live token named {name!r} exists: revoke it first (revoke-token {name})")
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role, token_hash=_token_digest(token)))
    return token


def token_identity(token: str, *, session: Session) -> Optional[tuple[str, str]]:
    """(name, role) of the live token, or None."""
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == _token_digest(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    return (row.name, row.role or "agent") if row else None


def token_name(token: str, *, session: Session) -> Optional[str]:
    identity = token_identity(token, session=session)
    return identity[0] if identity else None


def list_tokens(*, session: Session) -> list[ApiToken]:
    """Live tokens, by name (their hashes only: the tokens themselves are never stored)."""
    return list(
        session.execute(select(ApiToken).where(ApiToken.revoked_at.is_(None)).order_by(ApiToken.name)).scalars()
    )


def revoke_token(name: str, *, session: Session) -> int:
    """Revoke the live token(s) named ``name``; return how many."""
    rows = session.execute(select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))).scalars()
    count = 0
    for row in rows:
        row.revoked_at = utcnow()
        count += 1
    return count
