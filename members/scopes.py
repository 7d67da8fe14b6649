"""Service token scopes, and the one table of which scope each REST API operation needs.

Scopes are explicit, with one exception: `admin` is the highest scope and implies every
other. `read` is needed for every GET; `members` does not imply `credits` or `read`.

| scope     | allows                                                                    |
|-----------|---------------------------------------------------------------------------|
| `read`    | every GET: plans, members, usage, previews, balance, ledger, quotes, ... |
| `members` | member create, update, cancel, renew, delete, key rotation and revocation, |
|           | brokerage links (PUT/DELETE)                                              |
| `credits` | credit purchases (which cost the organisation money upstream)             |
| `admin`   | refunds (credits paid out in cash), ledger adjustments and reversals,     |
|           | webhook endpoints (add, change, delete, rotate secret), redelivery; and   |
|           | everything the other scopes allow                                         |

Ledger reversals, when the API offers them, are `admin`; brokerage link changes
`members`.

Every route under /api/ is listed in `REQUIRED_SCOPES` by URL name and method; an
authenticated request to an operation missing from the table is refused (fail closed),
and a test walks the URL resolver so no route can be added without an entry here.
"""

from collections.abc import Iterable

from django.urls import URLPattern, URLResolver, get_resolver

READ = "read"
MEMBERS = "members"
CREDITS = "credits"
ADMIN = "admin"

# In the order the portal and the command show them.
ALL_SCOPES: tuple[str, ...] = (READ, MEMBERS, CREDITS, ADMIN)
SCOPE_HELP = {
    READ: "read everything (every GET)",
    MEMBERS: "create, change, renew, cancel and delete members; rotate or revoke keys; "
    "link and unlink brokerage accounts",
    CREDITS: "buy credits",
    ADMIN: "refunds, ledger adjustments and reversals, webhook endpoints; implies all",
}
# A token created without a choice can do everything but pay credits out or mint them.
DEFAULT_SCOPES: tuple[str, ...] = (READ, MEMBERS, CREDITS)
# Tokens that existed before scopes could do everything; migration 0007 keeps it so.
LEGACY_SCOPES: tuple[str, ...] = ALL_SCOPES

# Public: the schema and its browsable docs need no token.
PUBLIC = None

# URL name, namespaced as `resolver_match.view_name` -> HTTP method -> the scope that
# operation needs. HEAD and OPTIONS follow GET.
REQUIRED_SCOPES: dict[str, dict[str, str | None]] = {
    "schema": {"GET": PUBLIC},
    "docs": {"GET": PUBLIC},
    # Organization API mirror and extensions
    "organization:plans": {"GET": READ},
    "organization:member-list": {"GET": READ},
    # A member may be called "create": GET and DELETE there mean that member.
    "organization:member-create": {"POST": MEMBERS, "GET": READ, "DELETE": MEMBERS},
    "organization:member-detail": {"GET": READ, "DELETE": MEMBERS},
    "organization:member-update": {"POST": MEMBERS},
    "organization:member-cancel": {"POST": MEMBERS},
    "organization:member-renew": {"POST": MEMBERS},
    "organization:member-preview": {"GET": READ},
    "organization:member-rotate-key": {"POST": MEMBERS},
    "organization:member-revoke-keys": {"POST": MEMBERS},
    "organization:member-usage": {"GET": READ},
    "organization:member-connections": {"GET": READ},
    "organization:member-connections-disconnect": {"POST": MEMBERS},
    # Brokerage links: reading never shows a token; linking stores the member's tokens.
    "organization:member-brokerage": {"GET": READ, "PUT": MEMBERS, "DELETE": MEMBERS},
    "organization:balance": {"GET": READ},
    "organization:ledger": {"GET": READ},
    # Mints or removes credits out of thin air.
    "organization:ledger-adjustments": {"POST": ADMIN},
    "organization:ledger-reverse": {"POST": ADMIN},
    "organization:credits-quote": {"GET": READ},
    "organization:credits-purchase": {"POST": CREDITS},
    # Pays credits out as cash.
    "organization:credits-refund": {"POST": ADMIN},
    "organization:operation-detail": {"GET": READ},
    # Notifications. A webhook endpoint receives member data and chooses where the
    # service sends requests, so managing endpoints is admin.
    "organization:webhook-list": {"GET": READ, "POST": ADMIN},
    "organization:webhook-detail": {"GET": READ, "PATCH": ADMIN, "DELETE": ADMIN},
    "organization:webhook-rotate-secret": {"POST": ADMIN},
    "organization:notification-list": {"GET": READ},
    "organization:delivery-list": {"GET": READ},
    "organization:delivery-redeliver": {"POST": ADMIN},
}

_SAME_AS_GET = ("HEAD", "OPTIONS")


class UnknownScope(ValueError):
    pass


def scopes_clean(scopes: Iterable[str]) -> list[str]:
    """The scopes in canonical order without duplicates; unknown names are refused."""
    given = [str(s).strip().lower() for s in scopes]
    unknown = sorted({s for s in given if s not in ALL_SCOPES})
    if unknown:
        raise UnknownScope(
            f"Unknown scope{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(s) for s in unknown)}; choose from {', '.join(ALL_SCOPES)}"
        )
    return [s for s in ALL_SCOPES if s in given]


def scope_required(url_name: str | None, method: str) -> tuple[bool, str | None]:
    """(listed, scope) for an operation; listed is False when the table has no entry."""
    operations = REQUIRED_SCOPES.get(url_name or "")
    if operations is None:
        return False, None
    method = method.upper()
    if method in _SAME_AS_GET and method not in operations:
        method = "GET"
    if method not in operations:
        return False, None
    return True, operations[method]


def scope_granted(token_scopes: Iterable[str], required: str) -> bool:
    token_scopes = set(token_scopes or ())
    return ADMIN in token_scopes or required in token_scopes


def api_routes() -> list[tuple[str | None, str, type]]:
    """(view name, route, view class) of every route under /api/, from the URL resolver."""
    found = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                ns = namespace
                if entry.namespace:
                    ns = f"{namespace}{entry.namespace}:"
                walk(entry.url_patterns, route, ns)
            elif isinstance(entry, URLPattern) and route.startswith("api/"):
                view_class = getattr(entry.callback, "view_class", None)
                name = f"{namespace}{entry.name}" if entry.name else None
                found.append((name, "/" + route, view_class))

    walk(get_resolver().url_patterns, "", "")
    return found


def scope_for_view(view_class: type, method: str) -> str | None:
    """The scope an operation needs, found by its view class (for the OpenAPI schema)."""
    for name, _route, cls in api_routes():
        if cls is view_class:
            listed, scope = scope_required(name, method)
            if listed:
                return scope
    return None
