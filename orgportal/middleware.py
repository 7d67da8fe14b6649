"""Request metrics and request ids, for every Django request.

It runs first in MIDDLEWARE so its latency covers the whole Django cycle. The request
size limit is not here: it must act before Django reads the body (orgportal.bodylimit).
"""

import os
import re
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from orgportal.metrics import HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is echoed only if it is short and plain, so it is safe in logs.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "unmatched"
ROOT_ROUTE = "/"
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
        request.request_id = request_id(request.headers.get(REQUEST_ID_HEADER, ""))
        response = self.get_response(request)
        return _finish(request, response, started)

    async def _acall(self, request):
        started = time.perf_counter()
        request.request_id = request_id(request.headers.get(REQUEST_ID_HEADER, ""))
        response = await self.get_response(request)
        return _finish(request, response, started)


def request_id(incoming: str) -> str:
    """The caller's request id if it is short and plain, else a new one: the rule for
    Django and the gateways alike."""
    if incoming and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    # 128 random bits as 32 hex digits, like uuid4().hex at a sixth of its cost (the
    # gateways make one per request).
    return os.urandom(16).hex()


def metric_method(method: str) -> str:
    # Any string is a valid method on the wire; only known ones become labels.
    return method if method in _KNOWN_METHODS else "OTHER"


def route_label(match) -> str:
    """The URL pattern of a resolver match, never the raw path: a label per distinct
    path would grow the metric without bound."""
    if match is None:
        return UNMATCHED_ROUTE
    # The site root's pattern is the empty string: a label of its own, not "unmatched".
    return match.route or ROOT_ROUTE


def _finish(request, response, started: float):
    route = route_label(getattr(request, "resolver_match", None))
    method = metric_method(request.method)
    HTTP_LATENCY.labels(method=method, route=route).observe(
        time.perf_counter() - started
    )
    HTTP_REQUESTS.labels(
        method=method, route=route, status=f"{response.status_code // 100}xx"
    ).inc()
    response[REQUEST_ID_HEADER] = request.request_id
    return response
