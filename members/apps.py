from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Members and ledger"

    def ready(self) -> None:
        from members import schema  # noqa: F401  (registers the OpenAPI auth scheme)
