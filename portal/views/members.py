"""Members: the list, one member's page, and the actions on a member.

Every action that moves credits shows the exact amount first (the services' own
previews) and acts only on a POST that confirms that amount; if the amount changed in
between (proration is per second), the new amount is shown to confirm again.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from billing.money import format_amount
from members import inputs
from members.errors import ServiceError
from members.models import Member, Operation
from members.services import operations
from portal import charts
from portal.forms import (
    ConfirmForm,
    MemberCreateForm,
    MemberFilterForm,
    MemberSettingsForm,
    PlanChangeForm,
)
from portal.selectors import members as reads
from portal.views.common import (
    actor,
    confirm_page,
    confirm_then_act,
    form_errors_from,
    form_page,
    member_not_found,
    no_store,
    render_form,
    role_required,
    with_live_member,
)
from portal.views.streams import member_streams_context


def _amount_text(amount: int) -> str:
    if amount > 0:
        return f"Charged {format_amount(amount)} credits."
    if amount < 0:
        return f"Credited {format_amount(-amount)} credits back."
    return "No credits moved."


def _report(request, outcome: operations.Outcome, done: str) -> None:
    op = outcome.operation
    if op.status == Operation.Status.SUCCEEDED:
        messages.success(request, f"{done} {_amount_text(op.amount)}")
    else:
        messages.warning(
            request,
            f"The upstream has not confirmed yet: operation #{op.pk} is "
            f"{op.get_status_display()}. It is resolved automatically and charged at "
            "most once; check this page again shortly.",
        )


_HINT = "Search the members list, or create it."


# --- list ------------------------------------------------------------------------------


@role_required("viewer")
@require_GET
def member_list(request):
    form = MemberFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    page = reads.members_list(
        q=(data.get("q") or "").strip(),
        plan=data.get("plan") or "",
        status=data.get("status") or "",
        sort=data.get("sort") or "uid",
        page=data.get("page") or 1,
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "filtered": any(data.get(k) for k in ("q", "plan", "status")),
    }
    if request.htmx and request.htmx.target == "members-table":
        return render(request, "portal/members/_table.html", context)
    # An invalid filter is shown next to its field, above the unfiltered list.
    return render_form(request, "portal/members/list.html", context)


# --- create ----------------------------------------------------------------------------


@role_required("admin")
@require_http_methods(["GET", "POST"])
def member_new(request):
    form = MemberCreateForm(request.POST or None)
    if request.method == "GET" or not form.is_valid():
        return render(request, "portal/members/new.html", {"form": form})
    data = form.cleaned_data
    try:
        preview = operations.member_create_preview(plan=data["plan"])
        confirm = ConfirmForm(request.POST)
        if (
            confirm.is_valid()
            and confirm.cleaned_data["confirm_amount"] == preview.amount
        ):
            outcome = operations.member_create(
                uid=data["uid"],
                plan=data["plan"],
                full_name=data["full_name"] or None,
                auto_renew=form.auto_renew_value(),
                actor=actor(request),
            )
            _report(request, outcome, f"Created {data['uid']} on {data['plan']}.")
            if outcome.api_key:
                return no_store(
                    render(
                        request,
                        "portal/members/key_shown.html",
                        {"uid": data["uid"], "key": outcome.api_key, "created": True},
                    )
                )
            return redirect("portal:member", uid=data["uid"])
    except ServiceError as exc:
        form_errors_from(form, exc)
        return render(request, "portal/members/new.html", {"form": form})
    return render(
        request,
        "portal/members/confirm.html",
        {
            "title": f"Create {data['uid']}",
            "action_url": reverse("portal:member_new"),
            "preview": preview,
            "hidden": [
                ("uid", data["uid"]),
                ("full_name", data["full_name"]),
                ("plan", data["plan"]),
                ("auto_renew", request.POST.get("auto_renew", "")),
            ],
            "button": f"Create and charge {format_amount(preview.amount)} credits",
            "changed": confirm.is_valid(),
            "back_url": reverse("portal:members"),
        },
    )


@role_required("admin")
@require_GET
def member_new_preview(request):
    return _plan_preview(
        request, lambda plan: operations.member_create_preview(plan=plan)
    )


def _plan_preview(request, preview_fn):
    """The amount `preview_fn(plan)` gives for the plan in `?plan=`, as a fragment."""
    try:
        plan = inputs.query_text(request.GET.get("plan"))
    except ValidationError as exc:
        # Shown in place of the preview, as a plan the services refuse is: htmx swaps
        # in only successful answers.
        return render(
            request,
            "portal/members/_preview.html",
            {"error": f"plan: {exc.messages[0]}"},
        )
    if not plan:
        return render(request, "portal/members/_preview.html", {"preview": None})
    try:
        preview = preview_fn(plan)
    except ServiceError as exc:
        return render(request, "portal/members/_preview.html", {"error": exc.message})
    return render(request, "portal/members/_preview.html", {"preview": preview})


# --- one member ------------------------------------------------------------------------


@role_required("viewer")
@require_GET
def member_detail(request, uid: str):
    member = reads.member_for_page(uid)
    if member is None:
        return member_not_found(request, uid, hint=_HINT)
    context = reads.member_detail(member)
    context["usage_chart"] = charts.bar_chart(
        context["usage"],
        title=f"Gateway requests per day of {member.uid}, last 30 days (UTC)",
        unit="requests",
    )
    context.update(member_streams_context(member))
    return render(request, "portal/members/detail.html", context)


def _confirm_money(
    request,
    *,
    member: Member,
    title: str,
    preview_fn,
    run_fn,
    done: str,
    button: str,
    hidden=(),
    danger: bool = False,
    note: str = "",
    template_extra: dict | None = None,
):
    """GET, or a POST without a confirmed amount: show the preview. A POST confirming
    the amount the preview still gives: act."""
    try:
        preview = preview_fn()
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("portal:member", uid=member.uid)
    confirm = ConfirmForm(request.POST or None)
    if (
        request.method == "POST"
        and confirm.is_valid()
        and confirm.cleaned_data["confirm_amount"] == preview.amount
    ):
        try:
            outcome = run_fn()
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("portal:member", uid=member.uid)
        _report(request, outcome, done)
        if outcome.operation.kind == Operation.Kind.DELETE and outcome.settled:
            return redirect("portal:members")
        return redirect("portal:member", uid=member.uid)
    return render(
        request,
        "portal/members/confirm.html",
        {
            "title": title,
            "member": member,
            "action_url": request.path,
            "preview": preview,
            "hidden": list(hidden),
            "button": button.format(amount=format_amount(abs(preview.amount))),
            "danger": danger,
            "note": note,
            "changed": request.method == "POST" and confirm.is_valid(),
            "back_url": reverse("portal:member", kwargs={"uid": member.uid}),
            **(template_extra or {}),
        },
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
@with_live_member(hint=_HINT)
def member_change(request, uid: str, member: Member):
    form = PlanChangeForm(request.POST or request.GET or None, current=member.plan.name)
    if not form.is_bound or not form.is_valid():
        return render(
            request, "portal/members/change.html", {"member": member, "form": form}
        )
    plan = form.cleaned_data["plan"]
    return _confirm_money(
        request,
        member=member,
        title=f"Change {member.uid}: {member.plan.name} → {plan}",
        preview_fn=lambda: operations.member_preview(uid=uid, plan=plan),
        run_fn=lambda: operations.member_change_plan(
            uid=uid, plan=plan, actor=actor(request)
        ),
        done=f"{uid} is now on {plan}.",
        button="Change plan",
        hidden=[("plan", plan)],
        note="The unused part of what was paid for the current term is credited; the "
        "new plan is charged for a full term from now.",
    )


@role_required("admin")
@require_GET
def member_change_preview(request, uid: str):
    return _plan_preview(
        request, lambda plan: operations.member_preview(uid=uid, plan=plan)
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
@with_live_member(hint=_HINT)
def member_renew(request, uid: str, member: Member):
    return _confirm_money(
        request,
        member=member,
        title=f"Renew {member.uid} on {member.plan.name}",
        preview_fn=lambda: operations.member_preview(uid=uid, plan=member.plan.name),
        run_fn=lambda: operations.member_renew(uid=uid, actor=actor(request)),
        done=f"Renewed {uid}.",
        button="Renew and charge {amount} credits",
        note="A renewal before the term ends starts when the current term ends.",
    )


def _confirm_ending(
    request, *, member: Member, verb: str, run_fn, done: str, note: str
):
    """Cancel and delete both end the term now, crediting what the cancel preview
    gives back."""
    return _confirm_money(
        request,
        member=member,
        title=f"{verb} {member.uid}",
        preview_fn=lambda: operations.member_cancel_preview(uid=member.uid),
        run_fn=run_fn,
        done=done,
        button=f"{verb} the member",
        danger=True,
        template_extra={"ends_now": True},
        note=note,
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
@with_live_member(hint=_HINT)
def member_cancel(request, uid: str, member: Member):
    return _confirm_ending(
        request,
        member=member,
        verb="Cancel",
        run_fn=lambda: operations.member_cancel(uid=uid, actor=actor(request)),
        done=f"Cancelled {uid}.",
        note="The member loses data access at once; the unused time is credited to "
        "the wallet.",
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
@with_live_member(hint=_HINT)
def member_delete(request, uid: str, member: Member):
    return _confirm_ending(
        request,
        member=member,
        verb="Delete",
        run_fn=lambda: operations.member_delete(uid=uid, actor=actor(request)),
        done=f"Deleted {uid}.",
        note="The member is deleted upstream and its keys are revoked; its ledger "
        "history is kept. Unused time of an active term is credited as a cancel "
        "would.",
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
@with_live_member(hint=_HINT)
def member_settings(request, uid: str, member: Member):
    def save(data):
        operations.member_settings_update(
            uid=uid,
            actor=actor(request),
            auto_renew=data["auto_renew"],
            overrides=form.overrides(),
        )
        messages.success(request, f"Saved the settings of {uid}.")
        return redirect("portal:member", uid=uid)

    if request.method == "POST":
        form = MemberSettingsForm(request.POST, member=member)
    else:
        form = MemberSettingsForm(
            initial=MemberSettingsForm.initial_for(member), member=member
        )
    return form_page(
        request, form, save, "portal/members/settings.html", {"member": member}
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
@with_live_member(hint=_HINT)
def member_key_rotate(request, uid: str, member: Member):
    if request.method == "POST":
        try:
            member, key = operations.member_key_rotate(uid=uid, actor=actor(request))
        except ServiceError as exc:
            messages.error(request, exc.message)
            return redirect("portal:member", uid=uid)
        return no_store(
            render(
                request,
                "portal/members/key_shown.html",
                {"uid": uid, "key": key, "created": False},
            )
        )
    return confirm_page(
        request,
        title=f"Rotate the gateway key of {uid}",
        message="A new key is issued and shown once; the current key stops working "
        "at once, so the member's apps need the new one.",
        button="Rotate the key",
        back_url=reverse("portal:member", kwargs={"uid": uid}),
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
@with_live_member(hint=_HINT)
def member_keys_revoke(request, uid: str, member: Member):
    return confirm_then_act(
        request,
        act=lambda: operations.member_keys_revoke(uid=uid, actor=actor(request)),
        done=f"Revoked every gateway key of {uid}. Rotate to issue a new one.",
        back_url=reverse("portal:member", kwargs={"uid": uid}),
        title=f"Revoke the gateway keys of {uid}",
        message="Every key of this member stops working at once (open WebSockets "
        "close within seconds). The member keeps its plan; rotate later to give it "
        "a new key.",
        button="Revoke all keys",
    )
