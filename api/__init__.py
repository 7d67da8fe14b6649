"""The REST API under /api/organization/ for the parent SaaS backend: the Organization API
mirror and its extensions. Views parse input, call one service or selector and shape the
output; no business rule lives here."""
