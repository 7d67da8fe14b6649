"""Pure rules of brokerage links: token health, when to refresh, what a link may hold,
and reading the expiry out of an access token. No ORM, no settings, no clock: callers
pass `now` and the windows, so every case is testable on its own."""

import base64
import binascii
import datetime as dt
import enum
import json
import math
from collections.abc import Iterable

# Tokens are opaque to orgportal beyond the access token's expiry. Aries' JWTs are well
# under 2 kB; this bounds what a request can make us encrypt and store.
TOKEN_MAX_CHARS = 4096
# An account id is a short identifier such as "ACC123456".
ACCOUNT_ID_MAX_CHARS = 64
ACCOUNTS_MAX = 100
# Seconds since the epoch of 9000-01-01T00:00:00Z: an exp beyond it is not a date this
# product reasons about (and would overflow datetime arithmetic near year 9999).
_EXP_MAX = 221_845_392_000


class TokenStatus(enum.StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"  # expires within the "expiring" window
    EXPIRED = "expired"
    FAILED = "failed"  # refresh refused for good (invalid_grant): link again


TOKEN_STATUS_HELP = {
    TokenStatus.VALID: "the access token is valid",
    TokenStatus.EXPIRING: "the access token expires soon",
    TokenStatus.EXPIRED: "the access token has expired (a refresh is due)",
    TokenStatus.FAILED: "Aries refused the refresh token for good; link again",
}


def token_status(
    *,
    expires_at: dt.datetime,
    failed_at: dt.datetime | None,
    now: dt.datetime,
    expiring_window: dt.timedelta,
) -> TokenStatus:
    """The link's token health. A failed link stays failed whatever its access token's
    expiry: nothing but a new link can renew it. A JWT is no longer accepted at its
    exp, so a token expiring exactly now is expired."""
    if failed_at is not None:
        return TokenStatus.FAILED
    remaining = expires_at - now
    if remaining <= dt.timedelta(0):
        return TokenStatus.EXPIRED
    if remaining <= expiring_window:
        return TokenStatus.EXPIRING
    return TokenStatus.VALID


def claim_free(*, claimed_until: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a refresh may be claimed: nobody holds it, or the holder's lease ran
    out (its process died mid-call)."""
    return claimed_until is None or claimed_until <= now


# --- input ------------------------------------------------------------------------------


# What a refused token or account id is told, by the check it failed (_text_problem);
# "long" may name the limit ({max}) and the length sent ({got}).
_TOKEN_REFUSALS = {
    "type": "Must be a string.",
    "empty": "Must not be empty.",
    "long": "Must be at most {max} characters (got {got}).",
    "printable": "Must be printable ASCII without spaces or control characters.",
}
_ACCOUNT_ID_REFUSALS = {
    "type": "Every account id must be a string.",
    "empty": "An account id must not be empty.",
    "long": "An account id is at most {max} characters.",
    "printable": "An account id must be printable ASCII without spaces or control "
    "characters.",
}


def _text_problem(
    value: object, *, max_chars: int, refusals: dict[str, str]
) -> str | None:
    """Why `value` cannot be a stored string of at most `max_chars` printable ASCII
    characters without spaces, worded by `refusals`, or None."""
    if not isinstance(value, str):
        return refusals["type"]
    if not value:
        return refusals["empty"]
    if len(value) > max_chars:
        return refusals["long"].format(max=max_chars, got=len(value))
    if not all("!" <= c <= "~" for c in value):
        return refusals["printable"]
    return None


def token_problem(value: object) -> str | None:
    """Why `value` cannot be a stored token (access or refresh), or None."""
    return _text_problem(value, max_chars=TOKEN_MAX_CHARS, refusals=_TOKEN_REFUSALS)


def access_token_problem(value: object) -> str | None:
    """Why `value` cannot be an access token, or None: a token that is a JWT with an
    `exp` claim (the link's health is read from it)."""
    problem = token_problem(value)
    if problem:
        return problem
    if access_token_expiry(value) is None:  # type: ignore[arg-type]
        return "Must be a JWT whose payload has a numeric exp claim."
    return None


def account_ids_problem(value: object) -> str | None:
    """Why `value` cannot be a link's account ids, or None: a non-empty list of unique
    short strings."""
    if not isinstance(value, list):
        return "Must be a list of account ids."
    if not value:
        return "Must name at least one account."
    if len(value) > ACCOUNTS_MAX:
        return f"At most {ACCOUNTS_MAX} accounts (got {len(value)})."
    for item in value:
        problem = _text_problem(
            item, max_chars=ACCOUNT_ID_MAX_CHARS, refusals=_ACCOUNT_ID_REFUSALS
        )
        if problem:
            return problem
    duplicates = _duplicates(value)
    if duplicates:
        return f"Account ids must be unique: {', '.join(duplicates)} repeated."
    return None


def _duplicates(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for v in values:
        if v in seen and v not in repeated:
            repeated.append(v)
        seen.add(v)
    return repeated


def account_ids_parse(text: str) -> list[str]:
    """Account ids typed in a form: separated by commas, spaces or new lines."""
    return [part for part in text.replace(",", " ").split() if part]


# --- tokens -----------------------------------------------------------------------------


def access_token_expiry(token: str) -> dt.datetime | None:
    """The `exp` claim of a JWT as an aware UTC datetime, or None when the token is not
    a JWT with a usable one. The signature is not checked: the token is the brokerage's,
    signed with its key; orgportal only needs to know when it stops working."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    payload_b64 = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    exp = payload.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    if not math.isfinite(exp) or not 0 < exp < _EXP_MAX:
        return None
    return dt.datetime.fromtimestamp(exp, tz=dt.UTC)
