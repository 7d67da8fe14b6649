"""The error body as the OpenAPI document describes it; `members.errors` builds it."""

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

ERROR = inline_serializer(
    "Error",
    fields={
        "success": serializers.BooleanField(),
        "error": serializers.CharField(),
        "code": serializers.CharField(),
        "details": serializers.DictField(),
    },
)
ERRORS = {code: ERROR for code in (400, 401, 402, 403, 404, 409, 413, 415, 502, 503)}
