"""The portal's staff roles, as Django groups: owner > admin > viewer."""

from django.db import migrations

ROLES = ("owner", "admin", "viewer")


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("members", "0003_renewals_notifications"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
