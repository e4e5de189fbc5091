// A real OpenID provider for the single sign-on tests: npm `oidc-provider` (a certified
// implementation) on a loopback port, with its development sign-in page (any login, any
// password) and consent given up front.
//
//   OIDC_MODULES=<node_modules> node oidc_provider.mjs <port> <redirect_uri> <client_id> <client_secret> [mode]
//
// Accounts are made up from the login typed: the login is the subject (`sub`); the email is the
// login itself when it has an `@`, else `<login>@example.test`; it is verified unless the login
// starts with `unverified`; `groups` is `["admin"]` for logins starting with `boss`,
// `["editor"]` for `ed`, else empty.
//
// mode (what the token endpoint answers; the rest of the provider is honest):
//   honest          as is
//   wrong_audience  the ID token re-signed with the provider's own key, for another client
//   bad_signature   the ID token re-signed with a key the provider never published
//
// Prints "listening <issuer>" once it serves.
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.env.OIDC_MODULES;
async function load(entry) {
  const file = createRequire(join(modules, "noop.js")).resolve(entry);
  return import(pathToFileURL(file).href);
}
const { default: Provider } = await load("oidc-provider");
const jose = await load("jose");

const [port, redirectUri, clientId, clientSecret, mode = "honest"] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const keyOf = (kid) => {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { ...privateKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };
};
const published = keyOf("published");
// Same key id, another key: what a forger without the provider's key can do.
const forged = keyOf("published");

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  jwks: { keys: [published] },
  cookies: { keys: [randomBytes(16).toString("hex")] },
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    profile: ["name", "groups"],
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    const email = id.includes("@") ? id : `${id}@example.test`;
    const groups = id.startsWith("boss") ? ["admin"] : id.startsWith("ed") ? ["editor"] : [];
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email,
          email_verified: !id.startsWith("unverified"),
          name: `Test ${id.split("@")[0]}`,
          groups,
        };
      },
    };
  },
  // Consent is given up front, so the only page is the sign-in form.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid email profile");
    grant.addOIDCClaims(["email", "email_verified", "name", "groups"]);
    await grant.save();
    return grant;
  },
});
provider.on("server_error", (_ctx, err) => console.error("provider error:", err));

async function tamper(idToken) {
  const claims = jose.decodeJwt(idToken);
  let key = published;
  if (mode === "wrong_audience") claims.aud = "another-client";
  if (mode === "bad_signature") key = forged;
  const signing = await jose.importJWK(key, "RS256");
  return new jose.SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT" }).sign(signing);
}

const handle = provider.callback();
createServer((req, res) => {
  if (mode === "honest" || req.method !== "POST" || !req.url.startsWith("/token")) {
    return handle(req, res);
  }
  // Rewrite the token endpoint's answer on its way out.
  const end = res.end.bind(res);
  const chunks = [];
  res.write = (chunk) => {
    chunks.push(Buffer.from(chunk));
    return true;
  };
  res.end = (chunk, ...rest) => {
    if (chunk && typeof chunk !== "function") chunks.push(Buffer.from(chunk));
    const body = Buffer.concat(chunks).toString();
    let json;
    try {
      json = JSON.parse(body);
    } catch {
      return end(body);
    }
    if (!json.id_token) return end(body);
    tamper(json.id_token).then((token) => {
      json.id_token = token;
      const out = JSON.stringify(json);
      res.setHeader("content-length", Buffer.byteLength(out));
      end(out);
    });
    return res;
  };
  return handle(req, res);
}).listen(Number(port), "127.0.0.1", () => console.log(`listening ${issuer}`));
