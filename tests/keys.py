"""Which member a gateway key opens, read straight from the keys table: what tests of
key issue, rotation and revocation check."""

from members.crypto import sha256_hex
from members.models import GatewayKey, Member


def key_owner(key: str) -> Member | None:
    """The member a live (unrevoked) gateway key belongs to, or None."""
    found = (
        GatewayKey.objects.select_related("member")
        .filter(key_hash=sha256_hex(key), revoked_at=None)
        .first()
    )
    return found.member if found else None
