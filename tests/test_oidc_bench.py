"""The single sign-on figure of ``mektep bench integrations``: whole authorization code flows against a
real cloud process, each ending with an ID token verified against the JWKS."""

from __future__ import annotations

from mektep.oidc_bench import measure_oidc_sign_ins


def test_every_sign_in_of_the_bench_ends_with_a_verified_id_token() -> None:
    figures = measure_oidc_sign_ins(sign_ins=8, clients=2, students=3)
    assert figures["oidc_sign_ins"] == 8 and figures["oidc_failures"] == 0, figures
    assert figures["oidc_sign_ins_per_s"] > 0 and figures["oidc_sign_in_p95_ms"] > 0
