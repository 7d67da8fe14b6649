"""A member's gateway keys: rotate (a new key, the old one stops at once) and revoke."""

from collections.abc import Callable

from rest_framework.views import APIView

from api.idempotency import idempotent_action
from api.inputs import actor
from api.members import MemberEnvelope, member_out
from members.services import operations


def _key_api(name: str, change: Callable[[str, str], dict], summary: str) -> type:
    """The view `name`: a POST without a body that answers with the member as
    `change(uid, actor)` shows it."""

    @idempotent_action({200: MemberEnvelope}, request=None, summary=summary)
    def post(self, request, uid):
        return 200, {"success": True, "member": change(uid, actor(request))}

    return type(name, (APIView,), {"post": post, "__module__": __name__})


def _rotated(uid: str, by: str) -> dict:
    member, token = operations.member_key_rotate(uid=uid, actor=by)
    return member_out(member, api_key=token)


MemberRotateKeyApi = _key_api(
    "MemberRotateKeyApi",
    _rotated,
    "Issue a new gateway key; the old one stops working at once",
)
MemberRevokeKeysApi = _key_api(
    "MemberRevokeKeysApi",
    lambda uid, by: member_out(operations.member_keys_revoke(uid=uid, actor=by)),
    "Revoke every gateway key of the member (rotate-key issues a new one)",
)
