"""Portal sign-in: who may sign in, and the lockout after repeated failures.

A username, or an IP address, with PORTAL_LOCKOUT_FAILURES failed attempts within
PORTAL_LOCKOUT_WINDOW_MINUTES is locked for PORTAL_LOCKOUT_MINUTES after the last of
them. Attempts made while locked are refused without checking the password and are not
recorded, so a lock ends on time; a successful sign-in clears the count for that key.
"""

import datetime as dt
import math
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import authenticate

from members.models import LoginAttempt
from orgportal import clock

ROLES = ("viewer", "admin", "owner")  # lowest first
_RANK = {name: rank for rank, name in enumerate(ROLES, start=1)}


def user_role(user) -> str | None:
    """The highest portal role of a user: a superuser counts as owner."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return "owner"
    cached = getattr(user, "_portal_role", False)
    if cached is not False:
        return cached
    names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    role = max(names, key=_RANK.__getitem__) if names else None
    user._portal_role = role
    return role


def role_at_least(role: str | None, needed: str) -> bool:
    return role is not None and _RANK[role] >= _RANK[needed]


@dataclass(frozen=True)
class SignIn:
    user: object | None = None
    locked_until: dt.datetime | None = None
    error: str = ""


def _window() -> tuple[int, dt.timedelta, dt.timedelta]:
    return (
        settings.PORTAL_LOCKOUT_FAILURES,
        dt.timedelta(minutes=settings.PORTAL_LOCKOUT_WINDOW_MINUTES),
        dt.timedelta(minutes=settings.PORTAL_LOCKOUT_MINUTES),
    )


def _locked_until(field: str, value, now: dt.datetime) -> dt.datetime | None:
    failures, window, lockout = _window()
    # The newest attempts for this key; a success ends the run of failures before it.
    recent = list(
        LoginAttempt.objects.filter(**{field: value, "at__gte": now - window - lockout})
        .order_by("-at", "-id")
        .values_list("ok", "at")[:failures]
    )
    run = []
    for ok, at in recent:
        if ok:
            break
        run.append(at)
    if len(run) < failures or run[0] - run[-1] > window:
        return None
    until = run[0] + lockout
    return until if until > now else None


def lockout_until(*, username: str, ip: str | None) -> dt.datetime | None:
    now = clock.now()
    locks = [_locked_until("username", username.lower(), now)]
    if ip:
        locks.append(_locked_until("ip", ip, now))
    locks = [lock for lock in locks if lock is not None]
    return max(locks) if locks else None


def sign_in(*, request, username: str, password: str, ip: str | None) -> SignIn:
    """Check a portal sign-in: lockout first, then the password, then the role."""
    key = username.strip().lower()[:150]
    until = lockout_until(username=key, ip=ip)
    if until is not None:
        minutes = max(1, math.ceil((until - clock.now()).total_seconds() / 60))
        return SignIn(
            locked_until=until,
            error=(
                "Too many failed sign-ins for this account or address. "
                f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
            ),
        )
    user = authenticate(request, username=username, password=password)
    ok = user is not None and user_role(user) is not None
    LoginAttempt.objects.create(username=key, ip=ip, ok=ok, at=clock.now())
    if user is None:
        return SignIn(error="Wrong username or password.")
    if not ok:
        return SignIn(
            error="This account has no portal role (owner, admin or viewer); "
            "ask an owner to add one."
        )
    return SignIn(user=user)


def login_attempts_clean(*, older_than: dt.timedelta = dt.timedelta(days=30)) -> int:
    """Forget sign-in attempts older than any lockout window could look at."""
    deleted, _ = LoginAttempt.objects.filter(at__lt=clock.now() - older_than).delete()
    return deleted
