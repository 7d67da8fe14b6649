"""Plans, the audit log, service tokens and the organisation's settings."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from members.errors import ServiceError
from members.models import ServiceToken
from members.selectors import org_settings
from members.services.keys import service_token_create, service_token_revoke
from members.services.org import org_settings_update
from members.services.plans import plans_sync
from members.upstream import UpstreamError
from portal.forms import AuditFilterForm, OrgSettingsForm, ServiceTokenForm
from portal.selectors import organization as reads
from portal.views.common import (
    actor,
    confirm_page,
    form_errors_from,
    form_page,
    no_store,
    render_form,
    role_required,
    with_row,
)

# --- plans ----------------------------------------------------------------------------


@role_required("viewer")
@require_GET
def plan_list(request):
    plans = reads.plans_with_counts()
    return render(
        request,
        "portal/plans.html",
        {
            "regular": [p for p in plans if not p.is_custom],
            "custom": [p for p in plans if p.is_custom],
        },
    )


@role_required("admin")
@require_POST
def plan_sync(request):
    try:
        plans = plans_sync()
    except UpstreamError as exc:
        messages.error(request, f"Could not read the upstream plan list: {exc.message}")
    else:
        messages.success(request, f"Synced {len(plans)} plans from upstream.")
    # Back to the page that offered the sync (the new member form), else the plans.
    back = request.POST.get("next") or ""
    if back != reverse("portal:member_new"):
        back = reverse("portal:plans")
    return redirect(back)


# --- audit log ------------------------------------------------------------------------


@role_required("viewer")
@require_GET
def audit_list(request):
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    rows, next_before = reads.audit_page(
        actor=(data.get("actor") or "").strip(),
        action=(data.get("action") or "").strip(),
        object_id=(data.get("object_id") or "").strip(),
        before=data.get("before"),
    )
    query = request.GET.copy()
    query.pop("before", None)
    # An invalid filter is shown next to its field, with the unfiltered log.
    return render_form(
        request,
        "portal/audit.html",
        {
            "form": form,
            "rows": rows,
            "next_before": next_before,
            "query": query.urlencode(),
        },
    )


# --- service tokens -----------------------------------------------------------------


@role_required("owner")
@require_http_methods(["GET", "POST"])
def token_list(request):
    form = ServiceTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            record, token = service_token_create(
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                actor=actor(request),
            )
        except ServiceError as exc:
            form_errors_from(form, exc, default_field="name")
        else:
            return no_store(
                render(
                    request,
                    "portal/token_shown.html",
                    {"record": record, "token": token},
                )
            )
    return render_form(
        request,
        "portal/tokens.html",
        {"form": form, "tokens": list(ServiceToken.objects.order_by("-id")[:200])},
    )


@role_required("owner")
@require_http_methods(["GET", "POST"])
@with_row(ServiceToken, noun="service token")
def token_revoke(request, token_id: int, record: ServiceToken):
    if request.method == "POST":
        service_token_revoke(token_id=token_id, actor=actor(request))
        messages.success(request, f"Revoked the service token “{record.name}”.")
        return redirect("portal:tokens")
    return confirm_page(
        request,
        title=f"Revoke the service token “{record.name}”",
        message="Requests with this token are refused from now on. This cannot be "
        "undone: create a new token for the same backend instead.",
        button="Revoke the token",
        back_url=reverse("portal:tokens"),
    )


# --- organisation settings ----------------------------------------------------------


@role_required("viewer", post="owner")
@require_http_methods(["GET", "POST"])
def org_settings_view(request):
    row = org_settings()

    def save(data):
        org_settings_update(actor=actor(request), **data)
        messages.success(request, "Saved the organisation settings.")
        return redirect("portal:settings")

    if request.method == "POST":
        form = OrgSettingsForm(request.POST)
    else:
        form = OrgSettingsForm(
            initial={
                "auto_renew_default": row.auto_renew_default,
                "reminder_days": ", ".join(str(d) for d in row.reminder_days),
                "renew_lead_hours": row.renew_lead_hours,
                "low_balance_days": row.low_balance_days,
                "notify_emails": ", ".join(row.email_list),
            }
        )
    return form_page(request, form, save, "portal/settings.html", {"row": row})
