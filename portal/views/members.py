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

from members import inputs
from members.errors import ServiceError
from members.models import Member, Operation
from members.services import operations
from members.services.plans import plans_offered
from members.upstream import UpstreamError
from orgportal import clock
from portal import charts, display
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
        return f"Charged {display.amount(amount)} credits."
    if amount < 0:
        return f"Credited {display.amount(-amount)} credits back."
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


def _new_page(request, form, *, offered=True, plans_error=None, status=200):
    return render(
        request,
        "portal/members/new.html",
        {"form": form, "offered": offered, "plans_error": plans_error},
        status=status,
    )


@role_required("admin")
@require_http_methods(["GET", "POST"])
def member_new(request):
    try:
        offered = bool(plans_offered())
    except UpstreamError as exc:
        return _new_page(
            request, MemberCreateForm(), plans_error=exc.message, status=503
        )
    if not offered:
        return _new_page(request, MemberCreateForm(), offered=False)
    form = MemberCreateForm(request.POST or None)
    if request.method == "GET" or not form.is_valid():
        return _new_page(request, form)
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
        return _new_page(request, form)
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
            "button": f"Create and charge {display.amount(preview.amount)} credits",
            "changed": confirm.is_valid(),
            "back_url": reverse("portal:members"),
        },
    )


@role_required("admin")
@require_GET
def member_new_preview(request):
    return _plan_preview(
        request, lambda plan: {"preview": operations.member_create_preview(plan=plan)}
    )


def _change_figures(uid: str, plan: str) -> dict:
    """A plan change's preview and its breakdown, both at one instant: the new plan
    for the paid time left, less the unused credit of what was paid, is the net
    charge (or credit, when negative)."""
    at = clock.now()
    preview = operations.member_preview(uid=uid, plan=plan, at=at)
    unused = -operations.member_cancel_preview(uid=uid, at=at).amount
    return {
        "preview": preview,
        "breakdown": {"new_part": preview.amount + unused, "unused": unused},
    }


def _plan_preview(request, figures_fn):
    """The figures `figures_fn(plan)` gives for the plan in `?plan=`, as a
    fragment."""
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
        figures = figures_fn(plan)
    except ServiceError as exc:
        return render(request, "portal/members/_preview.html", {"error": exc.message})
    return render(request, "portal/members/_preview.html", figures)


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


def _admin_member_page(view):
    """An admin's page about one live member: GET shows it, POST acts."""
    guarded = with_live_member(hint=_HINT)(view)
    return role_required("admin")(require_http_methods(["GET", "POST"])(guarded))


def _confirm_money(
    request,
    *,
    member: Member,
    title: str,
    figures_fn,
    run_fn,
    done: str,
    button: str,
    hidden=(),
    danger: bool = False,
    note: str = "",
):
    """GET, or a POST without a confirmed amount: show the figures (`figures_fn()`:
    the preview and what else the page shows). A POST confirming the amount the
    preview still gives: act."""
    try:
        figures = figures_fn()
        preview = figures["preview"]
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
            **figures,
            "hidden": list(hidden),
            "button": button.format(amount=display.amount(abs(preview.amount))),
            "danger": danger,
            "note": note,
            "changed": request.method == "POST" and confirm.is_valid(),
            "back_url": reverse("portal:member", kwargs={"uid": member.uid}),
        },
    )


@_admin_member_page
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
        figures_fn=lambda: _change_figures(uid, plan),
        run_fn=lambda: operations.member_change_plan(
            uid=uid, plan=plan, actor=actor(request)
        ),
        done=f"{uid} is now on {plan}.",
        button="Change plan",
        hidden=[("plan", plan)],
        note="The unused part of what was paid for the current term is credited and "
        "the new plan is charged for the same paid time left; the upstream starts a "
        "new 30-day term from now.",
    )


@role_required("admin")
@require_GET
def member_change_preview(request, uid: str):
    return _plan_preview(request, lambda plan: _change_figures(uid, plan))


def _money_action(verb: str, *, title: str, figures_fn, run, done: str, **page):
    """An action on a member that moves credits once its amount is confirmed: the
    view `member_<verb>`. `title` and `done` name the member as `{uid}` and its plan
    as `{plan}`; `figures_fn(member)` gives the preview and what else the page shows;
    `run(uid=, actor=)` is the service that acts; `page`: the rest of what
    `_confirm_money` shows."""

    def view(request, uid: str, member: Member):
        names = {"uid": uid, "plan": member.plan.name}
        return _confirm_money(
            request,
            member=member,
            title=title.format(**names),
            figures_fn=lambda: figures_fn(member),
            run_fn=lambda: run(uid=uid, actor=actor(request)),
            done=done.format(**names),
            **page,
        )

    view.__name__ = view.__qualname__ = f"member_{verb}"
    return _admin_member_page(view)


def _ending_action(verb: str, done: str, run, note: str):
    """Cancel and delete both end the term now, crediting what the cancel preview
    gives back."""
    return _money_action(
        verb.lower(),
        title=f"{verb} {{uid}}",
        figures_fn=lambda member: {
            "preview": operations.member_cancel_preview(uid=member.uid),
            "ends_now": True,
        },
        run=run,
        done=f"{done} {{uid}}.",
        button=f"{verb} the member",
        danger=True,
        note=note,
    )


member_renew = _money_action(
    "renew",
    title="Renew {uid} on {plan}",
    figures_fn=lambda member: {
        "preview": operations.member_preview(uid=member.uid, plan=member.plan.name)
    },
    run=operations.member_renew,
    done="Renewed {uid}.",
    button="Renew and charge {amount} credits",
    note="A renewal before the term ends starts when the current term ends.",
)
member_cancel = _ending_action(
    "Cancel",
    "Cancelled",
    operations.member_cancel,
    note="The member loses data access at once; the unused time is credited to the "
    "wallet.",
)
member_delete = _ending_action(
    "Delete",
    "Deleted",
    operations.member_delete,
    note="The member is deleted upstream and its keys are revoked; its ledger history "
    "is kept. Unused time of an active term is credited as a cancel would.",
)


@_admin_member_page
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


@_admin_member_page
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


@_admin_member_page
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
