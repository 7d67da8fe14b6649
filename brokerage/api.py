"""REST API extension: a member's brokerage link (Aries), for the parent SaaS backend.

`PUT /api/organization/members/{uid}/brokerage` links or replaces, `GET` shows the link
without its tokens, `DELETE` unlinks. Views parse input, call one service or selector
and shape the output; the rules live in brokerage.rules and brokerage.services.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.views import APIView

from api.errors import ERROR
from api.idempotency import idempotent_action
from api.inputs import StrictSerializer, actor
from api.outputs import MemberAnswerOut, read_action
from brokerage import rules, selectors, services
from brokerage.models import BrokerageLink
from orgportal.clock import iso

# What these operations can answer besides 200 (410: the uid names a deleted member).
BROKERAGE_ERRORS = {code: ERROR for code in (400, 401, 403, 404, 409, 410, 413, 415)}
_PRINTABLE = "^[!-~]+$"


def _rule_field(problem, schema: dict):
    """A serializer field whose value passes a brokerage.rules check unchanged."""

    @extend_schema_field(schema)
    class RuleField(serializers.Field):
        def to_internal_value(self, data):
            message = problem(data)
            if message:
                raise serializers.ValidationError(message)
            return data

        def to_representation(self, value):
            return value

    return RuleField


_TOKEN_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": rules.TOKEN_MAX_CHARS,
    "pattern": _PRINTABLE,
}
AccessTokenField = _rule_field(
    rules.access_token_problem,
    {
        **_TOKEN_SCHEMA,
        "description": "Aries access token: a JWT whose payload carries `exp`. Stored "
        "encrypted, never returned.",
    },
)
RefreshTokenField = _rule_field(
    rules.token_problem,
    {
        **_TOKEN_SCHEMA,
        "description": "Aries refresh token. Stored encrypted, never returned; "
        "orgportal refreshes the pair before the access token expires.",
    },
)
AccountIdsField = _rule_field(
    rules.account_ids_problem,
    {
        "type": "array",
        "minItems": 1,
        "maxItems": rules.ACCOUNTS_MAX,
        "uniqueItems": True,
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": rules.ACCOUNT_ID_MAX_CHARS,
            "pattern": _PRINTABLE,
        },
        "description": "The brokerage accounts the member may stream.",
    },
)


class LinkIn(StrictSerializer):
    access_token = AccessTokenField()
    refresh_token = RefreshTokenField()
    account_ids = AccountIdsField()


class FailureOut(serializers.Serializer):
    reason = serializers.CharField(help_text="why the last refresh failed")
    at = serializers.CharField(help_text="ISO 8601, UTC")
    permanent = serializers.BooleanField(
        help_text="true: Aries refused the refresh token for good (token_status "
        "failed); link again with a new pair"
    )


class LinkOut(serializers.Serializer):
    account_ids = serializers.ListField(child=serializers.CharField())
    token_status = serializers.ChoiceField(
        choices=[s.value for s in rules.TokenStatus],
        help_text="valid; expiring (within BROKERAGE_EXPIRING_SECONDS); expired; "
        "failed (refresh refused for good: invalid_grant)",
    )
    expires_at = serializers.CharField(
        help_text="the access token's exp claim, ISO 8601 UTC"
    )
    refreshed_at = serializers.CharField(
        allow_null=True, help_text="last successful refresh; null: not yet"
    )
    linked_at = serializers.CharField(help_text="when this token pair was linked")
    failure = FailureOut(
        allow_null=True, help_text="the last refresh failure; null after a success"
    )


class LinkEnvelope(MemberAnswerOut):
    brokerage = LinkOut()


class UnlinkOut(MemberAnswerOut):
    message = serializers.CharField()


def link_out(link: BrokerageLink) -> dict:
    """A link as the API answers it: everything but tokens."""
    failure = None
    if link.failure:
        failure = {
            "reason": link.failure,
            "at": iso(link.failure_at),
            "permanent": link.failed_at is not None,
        }
    return {
        "account_ids": list(link.account_ids),
        "token_status": selectors.link_status(link),
        "expires_at": iso(link.expires_at),
        "refreshed_at": iso(link.refreshed_at),
        "linked_at": iso(link.linked_at),
        "failure": failure,
    }


def link_envelope(link: BrokerageLink) -> dict:
    return {"success": True, "uid": link.member.uid, "brokerage": link_out(link)}


class MemberBrokerageApi(APIView):
    @read_action(
        LinkEnvelope,
        errors=BROKERAGE_ERRORS,
        summary="The member's brokerage link (without tokens)",
        description="404 BROKERAGE_NOT_LINKED when the member has no link, "
        "MEMBER_NOT_FOUND when there is no such member; 410 MEMBER_DELETED for a "
        "deleted member.",
    )
    def get(self, request, uid):
        link = selectors.link_get(uid)
        return link_envelope(link)

    @idempotent_action(
        {200: LinkEnvelope},
        errors=BROKERAGE_ERRORS,
        body=LinkIn,
        summary="Link the member to a brokerage user, or replace its link",
        description="Stores the Aries token pair (encrypted) and the accounts the "
        "member may stream through /v1/accounts/ws. A replacement drops the previous "
        "pair and any failure; streams of accounts no longer listed are closed within "
        "seconds. 400 VALIDATION_ERROR (or UNKNOWN_FIELD) for bad input; 410 "
        "MEMBER_DELETED for a deleted member.",
    )
    def put(self, request, uid, data):
        link, _created = services.brokerage_link(uid=uid, actor=actor(request), **data)
        return 200, link_envelope(link)

    @idempotent_action(
        {200: UnlinkOut},
        errors=BROKERAGE_ERRORS,
        summary="Unlink the member from its brokerage user",
        description="Deletes the stored tokens; the member's account streams close "
        "within seconds. 404 BROKERAGE_NOT_LINKED when there is no link.",
    )
    def delete(self, request, uid):
        member = services.brokerage_unlink(uid=uid, actor=actor(request))
        return 200, {
            "success": True,
            "uid": member.uid,
            "message": "Brokerage link removed",
        }
