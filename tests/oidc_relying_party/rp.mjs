// panva's openid-client (OpenID Certified relying party) as an e-textbook platform that signs students
// in with Mektep Gate: discovery, the authorization code flow with PKCE (S256), state and nonce, the
// client's secret in the Authorization header, then the ID token checked (signature by the JWKS,
// issuer, audience, nonce, expiry) and userinfo fetched. The page it lands on shows what it verified.
//
//   node rp.mjs PORT ISSUER CLIENT_ID CLIENT_SECRET SCOPE
import http from "node:http";
import * as client from "openid-client";

const [port, issuer, clientId, clientSecret, scope] = process.argv.slice(2);
const base = `http://localhost:${port}`;
const redirectUri = `${base}/cb`;
const pending = new Map(); // state -> { verifier, nonce }

const config = await client.discovery(
  new URL(issuer),
  clientId,
  undefined,
  client.ClientSecretBasic(clientSecret),
  { execute: [client.allowInsecureRequests] }, // the tests' Mektep is served over http on localhost
);

const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const page = (res, status, body) => {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Opiq</title><style>pre { white-space: pre-wrap; word-break: break-all; }</style></head><body><main>${body}</main></body></html>`);
};

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, base);
    try {
      if (url.pathname === "/") {
        return page(res, 200, `<h1>Opiq e-textbooks</h1><p><a href="/login">Sign in with Mektep Gate</a></p>`);
      }
      if (url.pathname === "/login") {
        const verifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        const nonce = client.randomNonce();
        pending.set(state, { verifier, nonce });
        const target = client.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope,
          state,
          nonce,
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: "S256",
          ui_locales: url.searchParams.get("lang") || "ru",
        });
        res.writeHead(302, { location: target.href });
        return res.end();
      }
      if (url.pathname === "/cb") {
        const expected = pending.get(url.searchParams.get("state"));
        if (!expected) return page(res, 400, `<p id="error">${escape(url.searchParams.get("error") || "unknown state")}</p>`);
        pending.delete(url.searchParams.get("state"));
        const tokens = await client.authorizationCodeGrant(config, url, {
          pkceCodeVerifier: expected.verifier,
          expectedNonce: expected.nonce,
          expectedState: url.searchParams.get("state"),
          idTokenExpected: true,
        });
        const claims = tokens.claims(); // the ID token's, after openid-client checked it
        const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
        const signOut = client.buildEndSessionUrl(config, {
          id_token_hint: tokens.id_token,
          post_logout_redirect_uri: `${base}/`,
        });
        return page(
          res,
          200,
          `<h1>Signed in</h1><pre id="claims">${escape(JSON.stringify(claims))}</pre>` +
            `<pre id="userinfo">${escape(JSON.stringify(userinfo))}</pre>` +
            `<p><a href="${escape(signOut.href)}">Sign out</a></p>`,
        );
      }
      return page(res, 404, "<p>Not found</p>");
    } catch (error) {
      return page(res, 500, `<p id="error">${escape(error.code || "")} ${escape(error.message)}</p>`);
    }
  })
  .listen(Number(port), "127.0.0.1", () => console.log(`relying party on ${base}`));
