"""The staff web portal: Django templates (top-level templates/portal/) with htmx, one
view module per area, and the reads its pages need (`portal.selectors`). No models:
the data is the members app's; writes go through its services."""
