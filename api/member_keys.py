"""A member's gateway keys: rotate (a new key, the old one stops at once) and revoke."""

from rest_framework.views import APIView

from api.idempotency import idempotent_action
from api.inputs import actor
from api.members import MemberEnvelope, member_out
from members.services import operations


class MemberRotateKeyApi(APIView):
    @idempotent_action(
        {200: MemberEnvelope},
        request=None,
        summary="Issue a new gateway key; the old one stops working at once",
    )
    def post(self, request, uid):
        member, token = operations.member_key_rotate(uid=uid, actor=actor(request))
        return 200, {"success": True, "member": member_out(member, api_key=token)}


class MemberRevokeKeysApi(APIView):
    @idempotent_action(
        {200: MemberEnvelope},
        request=None,
        summary="Revoke every gateway key of the member (rotate-key issues a new one)",
    )
    def post(self, request, uid):
        member = operations.member_keys_revoke(uid=uid, actor=actor(request))
        return 200, {"success": True, "member": member_out(member)}
