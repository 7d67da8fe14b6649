"""The staff web portal: Django templates with htmx, one module per area.

Views parse input, check the role, call one service (members.services) or selector
(portal.selectors) and render; business rules live in the services.
"""
