from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from orgportal import ops

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/organization/", include("api.urls")),
    # Django admin signs in through the portal's sign-in, so its lockout applies.
    path(
        "admin/login/",
        RedirectView.as_view(url="/login/?next=/admin/", query_string=False),
    ),
    path("admin/", admin.site.urls),
    # The portal's brokerage link actions on a member (the card is on its page).
    path("", include("brokerage.portal_urls")),
    # The staff portal: dashboard at /, sign-in at /login/.
    path("", include("portal.urls")),
]

handler400 = "orgportal.ops.error_400"
handler403 = "orgportal.ops.error_403"
handler404 = "orgportal.ops.error_404"
handler500 = "orgportal.ops.error_500"
