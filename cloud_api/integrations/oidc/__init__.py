"""Mektep as the students' OpenID Connect provider (Order No. 456 §33-1.13).

- :mod:`.keys`: the keys that sign ID tokens (published as JWKS, rotated without breaking
  sessions) and the pairwise subject;
- :mod:`.grants`: what a student agreed a platform may learn, and its withdrawal;
- :mod:`.provider`: the protocol, by Authlib's authorization server (code flow, PKCE S256, OpenID
  Connect, RP-initiated logout);
- :mod:`.http`: Authlib's requests and responses for Starlette; :mod:`.web`: the ``/oidc`` routes
  and the consent page.
"""
