"""Dashboard users and sign-in sessions: scrypt password hashes, random session tokens
(only their SHA-256 is stored), roles armourer (may change things) and auditor (reads)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from armlock.registry.db import RegistryError
from armlock.registry.models import ROLES, User, WebSession
from armlock.registry.records import attribute, now_s

SESSION_S = 12 * 3600
_SCRYPT = dict(n=2**14, r=8, p=1, dklen=32)


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)


def add_user(s: Session, actor: str, username: str, role: str, password: str) -> User:
    """Create a dashboard user."""
    if role not in ROLES:
        raise RegistryError(f"role {role!r}: one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise RegistryError("password: at least 8 characters")
    if s.get(User, username) is not None:
        raise RegistryError(f"user {username} exists")
    salt = secrets.token_bytes(16)
    u = User(username=username, role=role, pw_hash=_hash(password, salt), salt=salt,
             created_at=now_s())
    s.add(u)
    attribute(s, actor, "user add", f"user {username}", role=role)
    return u


def check_password(s: Session, username: str, password: str) -> User | None:
    """The user if the password is right (same work whether or not the user exists)."""
    u = s.get(User, username)
    salt = u.salt if u else b"\0" * 16
    ok = hmac.compare_digest(_hash(password, salt), u.pw_hash if u else b"\0" * 32)
    return u if u and ok else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(s: Session, user: User) -> str:
    """A new session token (the cookie value) for `user`."""
    token = secrets.token_urlsafe(32)
    s.add(WebSession(token_hash=_digest(token), username=user.username,
                     expires_at=now_s() + SESSION_S))
    attribute(s, user.username, "sign in", f"user {user.username}")
    return token


def session_user(s: Session, token: str | None) -> User | None:
    """The signed-in user of a cookie, or None (unknown or expired)."""
    if not token:
        return None
    ws = s.get(WebSession, _digest(token))
    if ws is None or ws.expires_at < now_s():
        return None
    return s.get(User, ws.username)


def close_session(s: Session, token: str | None) -> None:
    """Sign out (the session row goes; the sign-in stays in the change log)."""
    if token:
        s.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def users(s: Session) -> list[User]:
    return list(s.scalars(select(User).order_by(User.username)))
