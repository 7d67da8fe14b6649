from drf_spectacular.extensions import OpenApiAuthenticationExtension

from members import scopes


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "members.auth.ServiceTokenAuthentication"
    name = "serviceToken"

    def get_security_requirement(self, auto_schema):
        # OpenAPI 3.1 lets a bearer scheme's requirement name roles: the token scope.
        scope = scopes.scope_for_view(type(auto_schema.view), auto_schema.method)
        return {self.name: [scope] if scope else []}

    def get_security_definition(self, auto_schema):
        listed = "; ".join(
            f"`{name}`: {scopes.SCOPE_HELP[name]}" for name in scopes.ALL_SCOPES
        )
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A service token from the portal or `python manage.py "
                "createservicetoken NAME --scope SCOPE`. Each operation lists the scope "
                f"it needs under `security`. Scopes: {listed}. A token without the "
                "scope is refused with 403 `INSUFFICIENT_SCOPE`."
            ),
        }
