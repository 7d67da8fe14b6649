"""The content types of models that moved out of `members` (billing, notifications,
renewals). Their tables kept their `members_*` names; only the content types are
relabelled, so admin history and permissions follow the models."""

from functools import partial

from django.db import migrations


def _relabel(apps, schema_editor, *, models: list[str], old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    for model in models:
        current = types.filter(app_label=old, model=model).first()
        if current is None:
            continue
        # A row under the new label can only be one post_migrate made after a migration
        # back; the old row carries the history, so it wins.
        types.filter(app_label=new, model=model).delete()
        current.app_label = new
        current.save(update_fields=["app_label"])


def content_types_moved(models: list[str], *, to: str) -> migrations.RunPython:
    """The migration operation relabelling the content types of `models` (model names)
    from `members` to the app `to`, and back when the migration is unapplied."""
    return migrations.RunPython(
        partial(_relabel, models=models, old="members", new=to),
        partial(_relabel, models=models, old=to, new="members"),
    )
