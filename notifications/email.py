"""The plain-text email for a notification: a subject and a body a person can act on.

Pure functions of the notification's event and data. Data comes from other services and
may lack a field; the text then says less rather than failing the delivery.
"""

import datetime as dt
from typing import Any

SUBJECT_PREFIX = "[orgportal] "


def _when(value: Any) -> str:
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if parsed.tzinfo is not None:
            return parsed.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value)


def _who(member: dict) -> str:
    uid = member.get("uid", "?")
    name = member.get("full_name")
    return f"{uid} ({name})" if name and name != uid else str(uid)


def _details(data: dict, prefix: str = "") -> list[str]:
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.extend(_details(value, f"{prefix}{key}."))
        else:
            lines.append(f"  {prefix}{key}: {value}")
    return lines


def _renewal_due(data: dict, member: dict) -> tuple[str, str]:
    uid, plan = member.get("uid", "?"), member.get("plan", "?")
    days = data.get("days_before")
    in_days = f"in {days} day{'' if days == 1 else 's'}" if days is not None else "soon"
    subject = f"Member {uid}'s {plan} term ends {in_days}"
    text = (
        f"The {plan} term of member {_who(member)} ends on "
        f"{_when(member.get('term_end', '?'))}, {in_days}."
    )
    auto_renew = data.get("auto_renew", member.get("auto_renew"))
    if auto_renew:
        text += (
            f" It will be renewed automatically for {data.get('price', '?')} credits;"
            " keep enough credits in the wallet."
        )
    else:
        text += " Auto-renew is off: renew it in the portal or the API, or it expires."
    return subject, text


def _renewed(data: dict, member: dict) -> tuple[str, str]:
    uid, plan = member.get("uid", "?"), member.get("plan", "?")
    return (
        f"Member {uid} renewed on {plan}",
        f"Member {_who(member)} was renewed on {plan} for "
        f"{data.get('amount', '?')} credits. The new term runs from "
        f"{_when(data.get('term_start', member.get('term_start', '?')))} to "
        f"{_when(data.get('term_end', member.get('term_end', '?')))}.",
    )


def _renewal_failed(data: dict, member: dict) -> tuple[str, str]:
    uid, plan = member.get("uid", "?"), member.get("plan", "?")
    reason = data.get("message") or data.get("reason") or "no reason given"
    if data.get("message") and data.get("reason"):
        reason = f"{data['message']} ({data['reason']})"
    text = f"The renewal of member {_who(member)} on {plan} failed: {reason}."
    if data.get("needed"):
        text += (
            f" It needs {data['needed']} credits; {data.get('available') or '?'} are"
            " available. Buy credits and it is retried."
        )
    text += f" The current term ends {_when(member.get('term_end', '?'))}."
    return f"Renewal failed for member {uid} on {plan}", text


def _expired(data: dict, member: dict) -> tuple[str, str]:
    uid, plan = member.get("uid", "?"), member.get("plan", "?")
    at = _when(data.get("expired_at", member.get("term_end", "?")))
    return (
        f"Member {uid} expired",
        f"The {plan} term of member {_who(member)} ended at {at} and was not renewed."
        " The member's gateway key is refused until the member is renewed.",
    )


def _low_balance(data: dict, member: dict) -> tuple[str, str]:
    available = data.get("available", "?")
    forecast = data.get("forecast", "?")
    days = data.get("window_days", "?")
    return (
        f"Low credit balance: {available} available, {forecast} needed in the next "
        f"{days} days",
        f"The wallet holds {data.get('balance', '?')} credits, {available} of them "
        f"available. Renewals due in the next {days} days need {forecast}: "
        f"{data.get('shortfall', '?')} short. Buy credits in the portal or with "
        "POST /api/organization/credits/purchase.",
    )


def _quota_exceeded(data: dict, member: dict) -> tuple[str, str]:
    uid = member.get("uid", "?")
    return (
        f"Member {uid} used its monthly quota",
        f"Member {_who(member)} used {data.get('used', '?')} of its "
        f"{data.get('quota', '?')} monthly requests in {data.get('month', '?')}. Its "
        "gateway requests are refused with 429 QUOTA_EXCEEDED until the month ends "
        "or its quota is raised.",
    )


_TEXTS = {
    "member.renewal_due": _renewal_due,
    "member.renewed": _renewed,
    "member.renewal_failed": _renewal_failed,
    "member.expired": _expired,
    "org.low_balance": _low_balance,
    "member.quota_exceeded": _quota_exceeded,
}


def email_message(
    *, event: str, data: dict, notification_id: int, created_at: str
) -> tuple[str, str]:
    """(subject, body) of the email for one notification."""
    member = data.get("member") if isinstance(data.get("member"), dict) else {}
    render = _TEXTS.get(event)
    if render is None:
        subject, text = f"Event {event}", "orgportal recorded an event."
    else:
        subject, text = render(data, member)
    body = "\n".join(
        [
            text,
            "",
            "Details:",
            *_details(data),
            "",
            f"Event: {event}",
            f"Id: evt_{notification_id}",
            f"At: {_when(created_at)}",
            "",
            "-- ",
            "orgportal notifications. Recipients are set in the portal's "
            "organisation settings.",
        ]
    )
    return SUBJECT_PREFIX + subject, body


def email_destination(recipients: list[str]) -> str:
    """The recipients as the delivery records them. For the log only: the list itself
    may be longer than the column."""
    joined = ", ".join(recipients)
    return joined if len(joined) <= 1000 else joined[:999] + "…"
