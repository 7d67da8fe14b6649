"""Sign in and out. The lockout after repeated failures is django-axes' (settings
AXES_*): its backend refuses a locked username or address before the password is
checked, and a lockout is answered with this sign-in page saying so."""

import math

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.db.models import Max, Q
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from members.roles import user_role
from portal.forms import LoginForm


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


def _page(request, form, *, status: int = 200):
    return render(
        request,
        "portal/login.html",
        {"form": form, "next": _next_url(request)},
        status=status,
    )


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.user.is_authenticated and user_role(request.user) is not None:
        return redirect(_next_url(request))
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
        )
        if getattr(request, "axes_locked_out", False):
            return locked_out(request)
        if user is None:
            form.add_error(None, "Wrong username or password.")
        elif user_role(user) is None:
            form.add_error(
                None,
                "This account has no portal role (owner, admin or viewer); "
                "ask an owner to add one.",
            )
        else:
            login(request, user)  # a new session key: no session fixation
            return redirect(_next_url(request))
    return _page(request, form)


@require_POST
def logout_view(request):
    logout(request)
    return redirect(settings.LOGIN_URL)


# --- django-axes hooks (settings AXES_USERNAME_CALLABLE, AXES_LOCKOUT_CALLABLE) --------


def lockout_username(request, credentials) -> str:
    """The username a failure counts against: case and surrounding blanks do not make
    another account to guess at."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(username).strip().lower()[:150]


def locked_out(request, original_response=None, credentials=None):
    """The sign-in page with the lockout message, 429 (for any sign-in axes locks)."""
    if getattr(original_response, "is_lockout_page", False):
        return original_response  # the sign-in view answered it already
    form = LoginForm(request.POST or None)
    form.is_valid()
    minutes = _minutes_left(request, credentials)
    form.add_error(
        None,
        "Too many failed sign-ins for this account or address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
    )
    response = _page(request, form, status=429)
    response.is_lockout_page = True
    return response


def _minutes_left(request, credentials) -> int:
    """Until the newest failure counted against this username or address is older
    than the cool-off: when the lock ends (the later one, if both are locked)."""
    cooloff = settings.AXES_COOLOFF_TIME
    now = getattr(request, "axes_attempt_time", None)
    if now is None:
        return math.ceil(cooloff.total_seconds() / 60)
    keys = Q(username=lockout_username(request, credentials))
    ip = getattr(request, "axes_ip_address", None)
    if ip:
        keys |= Q(ip_address=ip)
    last = AccessAttempt.objects.filter(keys).aggregate(at=Max("attempt_time"))["at"]
    left = (last + cooloff - now) if last else cooloff
    return max(1, math.ceil(left.total_seconds() / 60))
