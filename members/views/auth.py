"""Sign in and out. Sign-in goes through the lockout in members.services.signin."""

from django.conf import settings
from django.contrib.auth import login, logout
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from members.forms import LoginForm
from members.services.signin import sign_in, user_role
from members.views.common import client_ip


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_view(request):
    if request.user.is_authenticated and user_role(request.user) is not None:
        return redirect(_next_url(request))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        result = sign_in(
            request=request,
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password"],
            ip=client_ip(request),
        )
        if result.user is not None:
            login(request, result.user)  # a new session key: no session fixation
            return redirect(_next_url(request))
        form.add_error(None, result.error)
        status = 429 if result.locked_until else 200
    return render(
        request,
        "portal/login.html",
        {"form": form, "next": _next_url(request)},
        status=status,
    )


@require_POST
def logout_view(request):
    logout(request)
    return redirect(settings.LOGIN_URL)
