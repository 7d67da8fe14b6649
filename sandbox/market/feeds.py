"""News, document and calendar handlers: `/newsfeed`, `/documents`, `/calendar/{kind}`."""

import datetime as dt

from aiohttp import web

from sandbox.market.context import MEMBER_KEY, NOW_KEY, dumps, ms
from sandbox.market.params import (
    invalid,
    known_kind,
    not_in_plan,
    param_choice,
    param_date,
    param_int,
    symbol_of,
)
from sandbox.state.members import Member
from sandbox.synth.calendars import CALENDARS, calendar_items
from sandbox.synth.documents import DOCUMENT_TYPES, documents
from sandbox.synth.news import news

# Longest calendar range one request may ask for, in days.
MAX_CALENDAR_DAYS = 93


async def get_newsfeed(request: web.Request) -> bytes:
    member: Member = request[MEMBER_KEY]
    if not member.plan.limits.newsfeed:
        raise not_in_plan("the news feed", lambda f: True)
    query = request.query
    limit = param_int(query, "limit", default=20, low=1, high=100)
    code = query.get("code") or None
    if code is not None:
        code = symbol_of(code).code
    now = request[NOW_KEY]
    items = news(now, limit=limit, code=code)
    return dumps({"last_update": ms(now), "total_items": len(items), "data": items})


async def get_documents(request: web.Request) -> bytes:
    query = request.query
    code = query.get("code")
    if not code:
        raise invalid("code", "'code' is required")
    symbol = symbol_of(code)
    type_ = query.get("type") or None
    if type_ is not None:
        type_ = param_choice(query, "type", DOCUMENT_TYPES)
    limit = param_int(query, "limit", default=20, low=1, high=50)
    found = documents(symbol, request[NOW_KEY], type_=type_, limit=limit)
    return dumps({"code": symbol.code, "total_items": len(found), "data": found})


async def get_calendar(request: web.Request) -> bytes:
    kind = known_kind(request, CALENDARS)
    query = request.query
    now = request[NOW_KEY]
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    start = param_date(query, "from", today - dt.timedelta(days=7))
    end = param_date(query, "to", start + dt.timedelta(days=37))
    if end < start:
        raise invalid("to", "'to' must not be before 'from'")
    if (end - start).days > MAX_CALENDAR_DAYS:
        raise invalid(
            "to", f"At most {MAX_CALENDAR_DAYS} days per request", max=MAX_CALENDAR_DAYS
        )
    items = calendar_items(kind, start, end, now)
    code = query.get("code")
    if code:
        wanted = symbol_of(code).code
        items = [item for item in items if item.get("code") == wanted]
    country = query.get("country")
    if country and kind == "events":
        items = [item for item in items if item["country"] == country.upper()]
    return dumps(
        {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "total_items": len(items),
            "data": items,
        }
    )
