"""The simulated Organization API under `/api/organization/`: plans and members,
behind the organization key and the injected faults."""

import hmac

from aiohttp import web

from sandbox.orgapi.context import Handler, ok, state_of, sub_app
from sandbox.orgapi.faults import fault_middleware
from sandbox.orgapi.inputs import json_body, query_int, string_field
from sandbox.state.errors import SandboxError
from sandbox.state.members import MAX_UID_LENGTH

MAX_PAGE_LIMIT = 100


@web.middleware
async def _org_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    expected = state_of(request).org_key
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        key.strip().encode(), expected.encode()
    ):
        raise SandboxError(
            401, "UNAUTHORIZED", "Invalid or missing organization API key"
        )
    return await handler(request)


def org_app() -> web.Application:
    return sub_app(
        [
            ("GET", "/plans", _plans),
            ("POST", "/members/create", _member_create),
            ("GET", "/members", _members_list),
            ("GET", "/members/{uid}", _member_get),
            ("POST", "/members/{uid}/update", _member_update),
            ("POST", "/members/{uid}/cancel", _member_cancel),
            ("DELETE", "/members/{uid}", _member_delete),
        ],
        [_org_auth, fault_middleware],
    )


async def _plans(request: web.Request) -> web.Response:
    return ok(state_of(request).plans_json())


async def _member_create(request: web.Request) -> web.Response:
    body = await json_body(request)
    uid = string_field(body, "uid", required=True, max_length=MAX_UID_LENGTH)
    plan = string_field(body, "plan", required=True)
    full_name = string_field(body, "full_name", required=False)
    state = state_of(request)
    member = state.member_create(uid=uid, plan=plan, full_name=full_name or "")
    return ok({"member": state.member_json(member)})


async def _members_list(request: web.Request) -> web.Response:
    page = query_int(request, "page", default=1, low=1, high=None)
    limit = query_int(request, "limit", default=10, low=1, high=MAX_PAGE_LIMIT)
    state = state_of(request)
    members, total = state.members_page(page=page, limit=limit)
    return ok(
        {
            "members": [state.member_json(member) for member in members],
            "page": page,
            "limit": limit,
            "total": total,
            "total_pages": -(-total // limit),
        }
    )


async def _member_get(request: web.Request) -> web.Response:
    state = state_of(request)
    member = state.member(request.match_info["uid"])
    return ok({"member": state.member_json(member)})


async def _member_update(request: web.Request) -> web.Response:
    body = await json_body(request)
    plan = string_field(body, "plan", required=True)
    full_name = string_field(body, "full_name", required=False)
    state = state_of(request)
    member = state.member_update(
        uid=request.match_info["uid"], plan=plan, full_name=full_name
    )
    return ok({"member": state.member_json(member)})


async def _member_cancel(request: web.Request) -> web.Response:
    state = state_of(request)
    member = state.member_cancel(uid=request.match_info["uid"])
    return ok({"member": state.member_json(member)})


async def _member_delete(request: web.Request) -> web.Response:
    state_of(request).member_delete(uid=request.match_info["uid"])
    return ok({"message": "Member deleted"})
