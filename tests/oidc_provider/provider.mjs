// panva's oidc-provider (OpenID Certified) as the tests' outside identity provider: the stand-in for a
// ministry's or eGov's single sign-on. Its development login page takes any login and password and
// signs that login in; the account's e-mail is the login, verified.
//
//   node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://localhost:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    response_types: ["code"],
    grant_types: ["authorization_code"],
  }],
  claims: { openid: ["sub"], email: ["email", "email_verified"] },
  // The dev login page signs in whatever login is typed, as the provider's subject; the e-mail is that
  // login, verified.
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: true };
      },
    };
  },
  cookies: { keys: ["mektep-test-cookie-key"] },
});
provider.proxy = true;
provider.listen(Number(port), "127.0.0.1", () => console.log(`oidc-provider listening on ${issuer}`));
