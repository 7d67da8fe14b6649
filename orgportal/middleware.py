"""Request metrics, the request-size limit and request ids, for every Django request.

It runs first in MIDDLEWARE so its latency covers the whole Django cycle and the size
limit answers before any body is read.
"""

import re
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.urls import Resolver404, resolve

from orgportal.metrics import HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is echoed only if it is short and plain, so it is safe in logs.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "unmatched"
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)


class RequestMetricsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        started = time.perf_counter()
        request.request_id = _request_id(request)
        refused = _refuse_too_large(request)
        response = refused or self.get_response(request)
        return _finish(request, response, started, refused=refused is not None)

    async def _acall(self, request):
        started = time.perf_counter()
        request.request_id = _request_id(request)
        refused = _refuse_too_large(request)
        response = refused or await self.get_response(request)
        return _finish(request, response, started, refused=refused is not None)


def _request_id(request) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def _refuse_too_large(request):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None:
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None  # Django answers a malformed length itself
    if length <= limit:
        return None
    from orgportal.ops import json_error

    return json_error(
        request,
        f"Request body too large (limit {limit} bytes)",
        "PAYLOAD_TOO_LARGE",
        413,
        {"limit": limit},
    )


def _route(request, *, refused: bool) -> str:
    # The URL pattern, never the raw path: a label per distinct path would grow the
    # metric without bound.
    match = getattr(request, "resolver_match", None)
    if match is None and refused:
        # Answered before Django routed it: resolve only to label the metric.
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
    if match is None or not match.route:
        return UNMATCHED_ROUTE
    return match.route


def _finish(request, response, started: float, *, refused: bool):
    route = _route(request, refused=refused)
    # Any string is a valid method on the wire; only known ones become labels.
    method = request.method if request.method in _KNOWN_METHODS else "OTHER"
    HTTP_LATENCY.labels(method=method, route=route).observe(
        time.perf_counter() - started
    )
    HTTP_REQUESTS.labels(
        method=method, route=route, status=f"{response.status_code // 100}xx"
    ).inc()
    response[REQUEST_ID_HEADER] = request.request_id
    return response
