"""What a request says: strict JSON bodies, query parameter fields, and who sent it."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import serializers
from rest_framework.request import Request

from members import inputs
from members.errors import ServiceError, ValidationFailed


def actor(request: Request) -> str:
    return f"token:{request.user.name}"


class StrictCharField(serializers.CharField):
    """A string, not a number that happens to print as one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """A JSON object with these fields and no others. A field the API does not take is
    refused by name, never ignored: a client sending e.g. `email` (which upstream
    generates) must learn that it has no effect."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Expected a JSON object"]}
            )
        if self.parent is None:
            _refuse_unknown_fields(self, data)
        return super().to_internal_value(data)


def _unknown_fields(serializer: serializers.Serializer, data: dict, prefix="") -> list:
    """Dotted names of the keys no writable field takes, nested objects included."""
    found = []
    for key, value in data.items():
        field = serializer.fields.get(key)
        if field is None or field.read_only:
            found.append(f"{prefix}{key}")
        elif isinstance(field, StrictSerializer) and isinstance(value, dict):
            found += _unknown_fields(field, value, prefix=f"{prefix}{key}.")
    return found


def _refuse_unknown_fields(serializer: serializers.Serializer, data: dict) -> None:
    unknown = _unknown_fields(serializer, data)
    if unknown:
        raise ValidationFailed(
            f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            code="UNKNOWN_FIELD",
            details={name: ["This API does not take this field."] for name in unknown},
        )


def query_text(**kwargs) -> serializers.CharField:
    """A free-text query parameter: NUL and other control characters refused."""
    return serializers.CharField(
        max_length=100, validators=[inputs.refuse_control_chars], **kwargs
    )


def count(**kwargs) -> serializers.IntegerField:
    """A count stored in an integer column: bounded by the column's range."""
    return serializers.IntegerField(
        min_value=0, max_value=inputs.INT_FIELD_MAX, **kwargs
    )


def parse(serializer_cls: type[serializers.Serializer], request: Request) -> dict:
    """The request's JSON body, validated by `serializer_cls`; an absent body is {}."""
    try:
        data = request.data if request.body else {}
    except RequestDataTooBig:
        # Served under ASGI, orgportal.bodylimit refuses such a body before it is read;
        # this is Django's own check of the same setting, for any other way in.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise ServiceError(
            f"Request body too large (limit {limit} bytes)",
            code="PAYLOAD_TOO_LARGE",
            status=413,
            details={"limit": limit},
        ) from None
    except RecursionError:
        # json.loads gives up on deep nesting with RecursionError, not a ValueError,
        # so the JSON parser lets it through.
        raise ValidationFailed(
            "Malformed JSON body: nested too deeply", code="INVALID_JSON"
        ) from None
    serializer = serializer_cls(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def parse_query(serializer_cls: type[serializers.Serializer], request: Request) -> dict:
    """The request's query parameters, validated by `serializer_cls`."""
    query = serializer_cls(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data
