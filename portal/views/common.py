"""What every portal view shares: roles, rendering, the actor name, service errors."""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import redirect, render

from members.errors import ServiceError
from members.roles import role_at_least, user_role
from portal.selectors.members import live_member


def actor(request) -> str:
    """How the audit log and the ledger name a portal user."""
    return f"staff:{request.user.get_username()}"


def _to_login(request):
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = f"{settings.LOGIN_URL}?next={request.path}"
        return response
    return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)


def role_required(role: str, *, post: str | None = None):
    """Let a signed-in user with at least `role` (viewer < admin < owner) in, or `post`
    for a POST; send the signed-out to the sign-in page and refuse the rest with 403."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return _to_login(request)
            current = user_role(request.user)
            needed = post if post and request.method == "POST" else role
            if not role_at_least(current, needed):
                return forbidden(request, needed=needed)
            request.portal_role = current
            return view(request, *args, **kwargs)

        wrapped.portal_role = role
        wrapped.portal_post_role = post or role
        return wrapped

    return decorate


def forbidden(request, *, needed: str):
    return render(
        request,
        "portal/error.html",
        {
            "title": "Not allowed",
            "message": f"This needs the {needed} role; you are signed in as "
            f"{user_role(request.user) or 'a user without a portal role'}. Ask an "
            "owner if you need it.",
        },
        status=403,
    )


def not_found(request, message: str):
    return render(
        request,
        "portal/error.html",
        {"title": "Not found", "message": message},
        status=404,
    )


def member_not_found(request, uid: str, *, hint: str = ""):
    message = f"There is no live member with uid “{uid}”."
    return not_found(request, f"{message} {hint}" if hint else message)


def _with_found(find, missing):
    """Hand the view what `find(key)` finds for its URL's one argument, after the key;
    `missing(request, key)` answers when it finds nothing."""

    def decorate(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            (key,) = (*args, *kwargs.values())
            found = find(key)
            if found is None:
                return missing(request, key)
            return view(request, key, found)

        return wrapped

    return decorate


def with_live_member(*, hint: str = ""):
    """Hand the view the live member its URL's `uid` names, as `member`; a 404 page
    (ending with `hint`) when there is none."""
    return _with_found(
        live_member, lambda request, uid: member_not_found(request, uid, hint=hint)
    )


def with_row(model, *, noun: str):
    """Hand the view the `model` row its URL's one id names; a 404 page saying there
    is no such `noun` when there is none."""
    return _with_found(
        lambda pk: model.objects.filter(pk=pk).first(),
        lambda request, pk: not_found(request, f"There is no {noun} #{pk}."),
    )


def render_form(request, template: str, context: dict):
    """A page showing `context["form"]`: 400 while the form shows errors (a refused
    submit or filter), so clients and tests never take it for a success."""
    return render(
        request, template, context, status=400 if context["form"].errors else 200
    )


def form_page(
    request,
    form,
    save,
    template: str,
    context: dict,
    *,
    default_field: str | None = None,
):
    """A page with a form: a valid POST goes to `save(cleaned_data)`, whose response
    is the answer; a service's refusal is shown next to the fields, as invalid input
    is, on the page again."""
    if request.method == "POST" and form.is_valid():
        try:
            return save(form.cleaned_data)
        except ServiceError as exc:
            form_errors_from(form, exc, default_field=default_field)
    return render_form(request, template, {"form": form, **context})


def form_errors_from(
    form, exc: ServiceError, *, default_field: str | None = None
) -> None:
    """Put a service's validation details next to the form's fields; the rest next to
    `default_field`, or on top of the form."""
    placed = False
    for field, details in (exc.details or {}).items():
        if field not in form.fields:
            continue
        # Validation details are lists of messages; other details (e.g. {"uid": "x"})
        # only say which field the error is about.
        for message in details if isinstance(details, list) else [exc.message]:
            form.add_error(field, str(message))
        placed = True
    if not placed:
        form.add_error(default_field, exc.message)


def portal_context(request) -> dict:
    """Template context for every page: the signed-in user's role."""
    user = getattr(request, "user", None)
    role = user_role(user) if user is not None else None
    return {
        "portal_role": role,
        "can_admin": role_at_least(role, "admin"),
        "can_own": role_at_least(role, "owner"),
    }


def no_store(response):
    """A page showing a secret once must not be kept by the browser or a proxy."""
    response["Cache-Control"] = "no-store"
    return response


def confirm_page(request, *, title: str, message: str, button: str, back_url: str):
    """Ask to confirm an action that moves no credits and cannot be taken back."""
    return render(
        request,
        "portal/confirm.html",
        {
            "title": title,
            "message": message,
            "button": button,
            "back_url": back_url,
            "danger": True,
        },
    )


def confirm_then_act(
    request, *, act, done: str, back_url: str, title: str, message: str, button: str
):
    """A GET asks to confirm; a POST runs `act()`, says what the service refused or
    `done`, and goes back to `back_url`."""
    if request.method == "POST":
        try:
            act()
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, done)
        return redirect(back_url)
    return confirm_page(
        request, title=title, message=message, button=button, back_url=back_url
    )
