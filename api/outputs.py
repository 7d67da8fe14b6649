"""What an answer says: the fields every answer starts with, rows as the answer shows
them, and the GET views that answer one body."""

import datetime as dt
import functools
from collections.abc import Callable, Iterable

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import ERRORS
from api.inputs import parse_query
from orgportal.clock import iso


class SuccessOut(serializers.Serializer):
    # A base class's fields come first, whenever the subclass's fields were made.
    success = serializers.BooleanField()


# An answer about one member: `success`, then the member's uid. (A comment: the OpenAPI
# document shows a serializer's docstring.)
class MemberAnswerOut(SuccessOut):
    uid = serializers.CharField()


@functools.cache
def out_fields(out: type[serializers.Serializer]) -> tuple[str, ...]:
    """The names of the fields `out` documents, in the answer's order."""
    return tuple(out().fields)


def row_out(row: object, names: Iterable[str], **computed: object) -> dict:
    """`row` as an answer shows it: under each of `names`, in that order, its value in
    `computed`, else the row's attribute of that name (a time as
    `orgportal.clock.iso` shows it)."""
    return {
        name: computed[name] if name in computed else _plain(getattr(row, name))
        for name in names
    }


def _plain(value: object) -> object:
    return iso(value) if isinstance(value, dt.datetime) else value


def read_action(
    out: type[serializers.Serializer],
    *,
    query: type[serializers.Serializer] | None = None,
    errors: dict = ERRORS,
    **schema,
):
    """Make a GET view method that returns its answer's body (200), documented by `out`
    then the error answers; `schema` as extend_schema takes it.

    `query`: the query string's serializer; the method gets the validated query as
    `query`."""
    parameters = {"parameters": [query]} if query is not None else {}

    def decorate(method: Callable[..., dict]):
        @extend_schema(responses={200: out, **errors}, **parameters, **schema)
        @functools.wraps(method)
        def view(self, request: Request, **path) -> Response:
            if query is not None:
                path["query"] = parse_query(query, request)
            return Response(method(self, request, **path))

        return view

    return decorate
