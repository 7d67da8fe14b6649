"""A plan's `feature` column held its feature tier: it is called `tier` now. The
plan's own `newsfeed` flag was never written by the plan sync (the tier decides it);
it goes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("members", "0013_renewals_moved_out")]

    operations = [
        migrations.RenameField(model_name="plan", old_name="feature", new_name="tier"),
        migrations.RemoveField(model_name="plan", name="newsfeed"),
    ]
