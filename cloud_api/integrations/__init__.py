"""Integrations: the school's other systems plug in here (Order No. 456 §33-1.2, §33-1.13, §§15-16).

- :mod:`~cloud_api.integrations.clients`: the registry of outside systems, their secrets and reach.
- :mod:`~cloud_api.integrations.oidc`: Mektep as the students' OpenID Connect provider (§33-1.13).
"""
