"""Cursor pagination: the `cursor` query parameter of the newest-first lists, and the
views that answer them. Cursors are made and read by `members.selectors`
(cursor_encode, cursor_decode)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import ERRORS
from api.inputs import parse_query
from api.outputs import SuccessOut
from members import selectors
from members.errors import ValidationFailed


def cursor_fields(*, max_limit: int) -> tuple[serializers.Field, serializers.Field]:
    """A list query's last two fields, `cursor, limit = cursor_fields(...)`: where the
    page continues, and its size."""
    cursor = serializers.RegexField(
        selectors.CURSOR_PATTERN,
        required=False,
        help_text="next_cursor from the previous page",
    )
    limit = serializers.IntegerField(min_value=1, max_value=max_limit, default=50)
    return cursor, limit


def cursor_before(query: dict) -> int | None:
    """The id a page continues below, from a validated query's `cursor` (None: the
    first page)."""
    if not query.get("cursor"):
        return None
    try:
        return selectors.cursor_decode(query["cursor"])
    except ValueError:
        raise ValidationFailed(
            "cursor is not one this API gave out", code="INVALID_CURSOR"
        ) from None


def next_cursor(last_id: int | None) -> str | None:
    """The cursor of the page after one whose last row is `last_id` (None: no more)."""
    return selectors.cursor_encode(last_id) if last_id else None


# GET one page of a newest-first list. `Query` validates the query string: its filters,
# then `cursor, limit = cursor_fields(...)`. The answer carries the page's rows under
# `key`, then `next_cursor`. (A comment: the OpenAPI document shows a view's docstring.)
class CursorListApi(APIView):
    Query: type[serializers.Serializer]
    key: str

    def page(self, *, before_id: int | None, **filters) -> tuple[list, str | None]:
        """The page's rows as the answer shows them, and the next page's cursor;
        `filters` are the validated query's, `limit` included."""
        raise NotImplementedError

    def get(self, request):
        filters = dict(parse_query(self.Query, request))
        before_id = cursor_before(filters)
        filters.pop("cursor", None)
        rows, cursor = self.page(before_id=before_id, **filters)
        return Response({"success": True, self.key: rows, "next_cursor": cursor})


def cursor_list_schema(answer: str, rows: serializers.Field, **kwargs):
    """Document a CursorListApi's GET: its Query's parameters and the answer
    serializer `answer`, whose `rows` stand under the view's `key`."""

    def document(view: type[CursorListApi]) -> type[CursorListApi]:
        out = type(
            answer,
            (SuccessOut,),
            {
                view.key: rows,
                "next_cursor": serializers.CharField(allow_null=True),
            },
        )
        get = extend_schema(
            parameters=[view.Query], responses={200: out, **ERRORS}, **kwargs
        )
        return extend_schema_view(get=get)(view)

    return document
