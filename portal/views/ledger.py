"""The ledger: filters, keyset pages with the running wallet balance, CSV export."""

import csv
from collections.abc import Iterator

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from billing.services import ledger
from members.errors import ServiceError
from orgportal import clock
from portal import display
from portal.forms import LedgerFilterForm
from portal.selectors import ledger as reads
from portal.views.common import actor, render_form, role_required


def _filters(form) -> dict:
    data = form.cleaned_data if form.is_valid() else {}
    return {
        "kind": data.get("kind") or "",
        "uid": (data.get("uid") or "").strip(),
        "since": data.get("since"),
        "until": data.get("until"),
    }


@role_required("viewer")
@require_GET
def ledger_list(request):
    form = LedgerFilterForm(request.GET or None)
    filters = _filters(form)
    before = form.cleaned_data.get("before") if form.is_valid() else None
    page = reads.ledger_page(**filters, before=before)
    query = request.GET.copy()
    query.pop("before", None)
    context = {
        "form": form,
        "page": page,
        "before": before,  # paged back: the table links to the newest again
        "query": query.urlencode(),
        **filters,
    }
    if request.htmx and request.htmx.target == "ledger-table":
        return render(request, "portal/ledger/_table.html", context)
    # An invalid filter is shown next to its field, above the unfiltered ledger.
    return render_form(request, "portal/ledger/list.html", context)


class _Echo:
    """A file-like object whose write returns the line: csv.writer then yields text."""

    def write(self, value):
        return value


CSV_LINES_PER_CHUNK = 1000


def _csv_chunks(rows) -> Iterator[str]:
    writer = csv.writer(_Echo())
    lines = []
    for row in rows:
        lines.append(writer.writerow(row))
        if len(lines) >= CSV_LINES_PER_CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


async def _async_chunks(chunks: Iterator[str]):
    # Under ASGI Django buffers a synchronous iterator whole before sending it; an
    # async one streams. The queries stay on the request's own sync thread.
    pull = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)
    while (chunk := await pull()) is not None:
        yield chunk


@role_required("viewer")
@require_GET
def ledger_export(request):
    form = LedgerFilterForm(request.GET or None)
    if form.errors:
        # Never the whole ledger in place of the filtered part that was asked for.
        return ledger_list(request)
    chunks = _csv_chunks(reads.ledger_csv_rows(**_filters(form)))
    content = _async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="ledger-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@role_required("owner")
@require_http_methods(["GET", "POST"])
def ledger_reverse(request, transaction_id: int):
    """GET: what reversing the adjustment would do, and a reason to give. POST with
    a reason: the reversal (billing.services.ledger decides whether it may)."""
    review = reads.reversal_review(transaction_id)
    if review is None:
        raise Http404(f"No ledger transaction {transaction_id}")
    reason = (request.POST.get("reason") or "").strip()
    error = None
    if request.method == "POST":
        if not reason:
            error = "Give a reason: it is kept with the reversal and in the audit log."
        elif len(reason) > 250:
            error = "The reason is at most 250 characters."
        else:
            try:
                txn = ledger.transaction_reverse(
                    transaction_id=transaction_id, reason=reason, actor=actor(request)
                )
            except ServiceError as exc:
                error = exc.message
            else:
                moved = review.wallet_amount
                messages.success(
                    request,
                    f"Reversed #{transaction_id} as #{txn.pk}: "
                    f"{display.amount(abs(moved))} credits "
                    f"{'back into' if moved > 0 else 'out of'} the wallet.",
                )
                return redirect("portal:ledger")
    return render(
        request,
        "portal/ledger/reverse.html",
        {"review": review, "reason": reason, "error": error},
        status=400 if error else 200,
    )
