"""Portal roles: the Django groups owner > admin > viewer; a superuser counts as owner."""

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
