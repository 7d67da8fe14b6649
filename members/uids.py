"""The rule for member uids: a uid must stand as one URL path segment, unchanged.

Every uid appears in paths, ours (`/api/organization/members/{uid}`) and upstream's. A
`/` splits it into two segments; `.` and `..` are dot segments that URL normalisation
removes (`/members/../cancel` becomes `/cancel`), and `\\` is read as `/` by some
servers; control characters are refused by databases (NUL) and mangled by proxies.
Anything else survives percent-encoding and decoding unchanged.
"""

UID_MAX = 100  # upstream's limit
RULE = (
    f"1 to {UID_MAX} characters, not '.' or '..', without '/', '\\' or control "
    "characters"
)


def uid_problem(uid: object) -> str | None:
    """Why `uid` cannot be a member uid, or None if it can."""
    if not isinstance(uid, str) or not uid.strip():
        return "uid is required"
    if len(uid) > UID_MAX:
        return f"uid must be at most {UID_MAX} characters (got {len(uid)})"
    if uid in (".", ".."):
        return f"uid {uid!r} is a dot segment, which URL paths drop"
    if "/" in uid or "\\" in uid:
        return "uid must not contain '/' or '\\': it must stay one path segment"
    if any(ord(c) < 32 or ord(c) == 127 for c in uid):
        return "uid must not contain control characters"
    return None
