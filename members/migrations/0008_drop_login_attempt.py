# The sign-in lockout is django-axes' now (axes.AccessAttempt); the attempts kept here
# only served the lockout, so they go with the table.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0007_service_token_scopes"),
    ]

    operations = [
        migrations.DeleteModel(name="LoginAttempt"),
    ]
