// Drives a live proxyhub with Better Auth's own client (better-auth/client, 1.7) and checks
// that every answer is what a Better Auth 1.7 server would give.
//
//   node better_auth_client.mjs <baseURL> [closedURL] [limitedURL]
//
// Run by tests/core/better_auth.rs with NODE_PATH at tests/.tools/better-auth/node_modules.
//
// baseURL:    a proxyhub with PROXYHUB_ALLOW_SIGNUP=true and a high PROXYHUB_AUTH_RATE_LIMIT.
// closedURL:  (optional) a proxyhub with PROXYHUB_ALLOW_SIGNUP=false.
// limitedURL: (optional) a proxyhub with PROXYHUB_AUTH_RATE_LIMIT=2 (any small limit works).
//
// Exits 1 on the first failed expectation (set BA_KEEP_GOING=1 to see them all, still exiting
// 1 at the end). "note" lines are differences a Better Auth client ignores (headers, wording).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

// ES modules ignore NODE_PATH: resolve a better-auth entry the CommonJS way (which honours
// NODE_PATH and the node_modules above this file, or in a .tools folder beside it), then import it.
async function load(entry) {
  const here = dirname(fileURLToPath(import.meta.url));
  const bases = [import.meta.url, join(here, ".tools", "noop.js"), join(here, "tests", ".tools", "noop.js")];
  for (const b of bases) {
    try {
      const file = createRequire(b).resolve(entry);
      return await import(pathToFileURL(file).href);
    } catch {}
  }
  throw new Error(`${entry} not found: npm install better-auth@1.7, or set NODE_PATH to its node_modules`);
}
const fail = (err) => {
  console.error(`FAIL ${err.message}`);
  process.exit(2);
};
const { twoFactorClient } = await load("better-auth/client/plugins").catch(fail);
const { createAuthClient } = await load("better-auth/client").catch(fail);

const [base, closedURL, limitedURL] = process.argv.slice(2);
if (!base) {
  console.error("usage: node client.mjs <baseURL> [closedURL] [limitedURL]");
  process.exit(2);
}
const keepGoing = process.env.BA_KEEP_GOING === "1";
let failures = 0;
let checks = 0;

function check(cond, what, got) {
  checks++;
  if (cond) {
    console.log(`ok   ${what}`);
    return true;
  }
  failures++;
  console.log(`FAIL ${what}${got === undefined ? "" : ` (got ${fmt(got)})`}`);
  if (!keepGoing) process.exit(1);
  return false;
}
function note(cond, what) {
  if (!cond) console.log(`note ${what}`);
}
function fmt(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
const isDate = (v) => v instanceof Date && !Number.isNaN(v.getTime());
const isStr = (v) => typeof v === "string" && v.length > 0;

// A simulated browser: its own cookie jar, user agent and Origin (sent on state-changing
// requests, as browsers do). `last` is the last raw response, for headers.
function browser(baseURL, name, origin = new URL(baseURL).origin) {
  const jar = new Map(); // name -> {value, attrs}
  const ua = `ba-client-test/${name}`;
  const b = { name, jar, ua, last: null };
  async function customFetchImpl(input, init = {}) {
    const req = new Request(input, init);
    const headers = new Headers(req.headers);
    headers.set("user-agent", ua);
    if (jar.size) headers.set("cookie", [...jar].map(([k, c]) => `${k}=${c.value}`).join("; "));
    if (!["GET", "HEAD"].includes(req.method)) headers.set("origin", origin);
    const res = await fetch(req.url, {
      method: req.method,
      headers,
      body: ["GET", "HEAD"].includes(req.method) ? undefined : await req.text(),
      redirect: "manual",
      signal: init.signal,
    });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      const k = pair.slice(0, eq);
      const v = pair.slice(eq + 1);
      const a = Object.fromEntries(
        attrs.map((x) => {
          const i = x.indexOf("=");
          return i < 0 ? [x.toLowerCase(), true] : [x.slice(0, i).toLowerCase(), x.slice(i + 1)];
        }),
      );
      const gone =
        v === "" || a["max-age"] === "0" || (a.expires && Date.parse(a.expires) <= Date.now());
      if (gone) jar.delete(k);
      else jar.set(k, { value: v, attrs: a, raw: line });
    }
    b.last = res;
    return res;
  }
  b.client = createAuthClient({ baseURL, fetchOptions: { customFetchImpl }, plugins: [twoFactorClient()] });
  return b;
}

// The session cookie in a jar: Better Auth's is `<prefix>.session_token` (signed); any
// `*.session_token` is accepted here.
const sessionCookie = (b) => [...b.jar].find(([k]) => k.endsWith("session_token"))?.[1];

const run = `${Date.now().toString(36)}${process.pid}`;
const email = (who) => `${who}-${run}@example.com`;
const PW = "correct horse 1";
const PW2 = "battery staple 2";
const IMG = "https://example.com/ada.png";

// RFC 6238 (SHA-1, 6 digits, 30 s), as an authenticator app computes it, `ahead` steps on.
import { createHmac } from "node:crypto";
function totp(uri, ahead = 0) {
  const secret = new URL(uri).searchParams.get("secret");
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + ahead));
  const h = createHmac("sha1", key).update(counter).digest();
  const o = h[h.length - 1] & 15;
  const n = (h.readUInt32BE(o) & 0x7fffffff) % 1e6;
  return String(n).padStart(6, "0");
}

async function errorOf(p) {
  const r = await p;
  return r.error ?? null;
}

async function main() {
  console.log(`# proxyhub at ${base}, better-auth client`);

  // ---- sign-up ------------------------------------------------------------------------
  const A = browser(base, "A");
  const up = await A.client.signUp.email({ name: "Ada", email: email("ada"), password: PW, image: IMG });
  check(!up.error, "signUp.email succeeds", up.error);
  check(isStr(up.data?.token), "signUp.email answers a token", up.data);
  const user = up.data?.user ?? {};
  check(user.email === email("ada") && user.name === "Ada", "signUp.email answers the user", user);
  check(user.image === IMG, "signUp.email keeps image", user.image);
  check(user.emailVerified === false, "user.emailVerified is false", user.emailVerified);
  check(isStr(user.id) && isDate(user.createdAt) && isDate(user.updatedAt), "user has id, createdAt, updatedAt (dates)", user);
  const ck = sessionCookie(A);
  check(!!ck, "signUp.email sets a session cookie", [...A.jar.keys()]);
  check(ck?.attrs.httponly === true && String(ck?.attrs.samesite).toLowerCase() === "lax", "session cookie is HttpOnly, SameSite=Lax", ck?.raw);
  check(ck?.attrs["max-age"] === "604800", "session cookie Max-Age is 7 days (604800)", ck?.raw);
  note([...A.jar.keys()].some((k) => k === "better-auth.session_token"), `cookie is named ${[...A.jar.keys()].join(",")}, Better Auth's is better-auth.session_token (signed value token.signature)`);

  // Validation errors (Better Auth: 400 with a code).
  let e = await errorOf(browser(base, "V").client.signUp.email({ name: "V", email: "not-an-email", password: PW }));
  check(e?.status === 400 && e?.code === "INVALID_EMAIL", "signUp.email bad email: 400 INVALID_EMAIL", e);
  e = await errorOf(browser(base, "V").client.signUp.email({ name: "V", email: email("short"), password: "short" }));
  check(e?.status === 400 && e?.code === "PASSWORD_TOO_SHORT", "signUp.email short password: 400 PASSWORD_TOO_SHORT", e);

  // Duplicate email, any case.
  e = await errorOf(browser(base, "X").client.signUp.email({ name: "Ada 2", email: email("ada").toUpperCase(), password: PW }));
  check(e?.status === 422 && e?.code === "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "signUp.email duplicate email: 422 USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", e);
  note(e?.message === "User already exists. Use another email.", `duplicate message is ${fmt(e?.message)}, Better Auth's "User already exists. Use another email."`);

  // ---- getSession -----------------------------------------------------------------------
  let s = await A.client.getSession();
  check(!s.error && s.data?.session && s.data?.user, "getSession answers {session, user}", s);
  let sess = s.data?.session ?? {};
  check(sess.token === up.data?.token, "session.token is the sign-up token", sess.token);
  check(isStr(sess.id) && sess.userId === user.id, "session.id and session.userId", sess);
  check(isDate(sess.createdAt) && isDate(sess.updatedAt) && isDate(sess.expiresAt), "session.createdAt, updatedAt, expiresAt are dates", sess);
  const days = (d) => (d - Date.now()) / 86_400_000;
  check(days(sess.expiresAt) > 6.9 && days(sess.expiresAt) <= 7.01, "session.expiresAt is 7 days ahead", sess.expiresAt);
  check(sess.ipAddress === "127.0.0.1", "session.ipAddress", sess.ipAddress);
  check(sess.userAgent === A.ua, "session.userAgent", sess.userAgent);
  check(s.data?.user?.id === user.id && s.data?.user?.image === IMG, "getSession user", s.data?.user);
  check(A.last.headers.get("cache-control") === "no-store", "getSession Cache-Control: no-store", A.last.headers.get("cache-control"));
  note(A.last.headers.get("pragma") === "no-cache", "getSession has no Pragma: no-cache (Better Auth sends it)");
  const anon = await browser(base, "anon").client.getSession();
  check(!anon.error && anon.data === null, "getSession without a session: null", anon);

  // ---- sign-in --------------------------------------------------------------------------
  const X = browser(base, "X");
  e = await errorOf(X.client.signIn.email({ email: email("ada"), password: "wrong password" }));
  check(e?.status === 401 && e?.code === "INVALID_EMAIL_OR_PASSWORD", "signIn.email wrong password: 401 INVALID_EMAIL_OR_PASSWORD", e);
  note(e?.message === "Invalid email or password", `wrong-password message is ${fmt(e?.message)}, Better Auth's "Invalid email or password"`);
  e = await errorOf(X.client.signIn.email({ email: email("nobody"), password: PW }));
  check(e?.status === 401 && e?.code === "INVALID_EMAIL_OR_PASSWORD", "signIn.email unknown email: 401 INVALID_EMAIL_OR_PASSWORD", e);
  e = await errorOf(X.client.signIn.email({ email: "not-an-email", password: PW }));
  check(e?.status === 400 && e?.code === "INVALID_EMAIL", "signIn.email malformed email: 400 INVALID_EMAIL", e);
  check(X.jar.size === 0, "failed sign-ins set no cookie", [...X.jar.keys()]);
  e = await errorOf(X.client.signIn.email({ email: email("ada"), password: PW, callbackURL: "https://evil.example/steal" }));
  check(e?.status === 403 && e?.code === "INVALID_CALLBACK_URL", "signIn.email foreign callbackURL: 403 INVALID_CALLBACK_URL", e);

  e = await errorOf(browser(base, "evil", "https://evil.example").client.signIn.email({ email: email("ada"), password: PW }));
  check(e?.status === 403 && e?.code === "INVALID_ORIGIN", "signIn.email from a foreign Origin: 403 INVALID_ORIGIN", e);

  // B: callbackURL and rememberMe: false.
  const B = browser(base, "B");
  const inB = await B.client.signIn.email({ email: email("ada"), password: PW, callbackURL: "/dashboard", rememberMe: false });
  check(!inB.error, "signIn.email with callbackURL succeeds", inB.error);
  check(inB.data?.redirect === true && inB.data?.url === "/dashboard", "signIn.email answers redirect: true, url: callbackURL", inB.data);
  check(isStr(inB.data?.token) && inB.data?.user?.id === user.id, "signIn.email answers token and user", inB.data);
  note(B.last.headers.get("location") === "/dashboard", `sign-in with callbackURL has no Location header (Better Auth sets Location: /dashboard), got ${fmt(B.last.headers.get("location"))}`);
  const ckB = sessionCookie(B);
  check(ckB && ckB.attrs["max-age"] === undefined && ckB.attrs.expires === undefined, "rememberMe: false sets a browser-session cookie (no Max-Age/Expires)", ckB?.raw);
  note(B.jar.has("better-auth.dont_remember"), "rememberMe: false sets no dont_remember cookie (Better Auth sets better-auth.dont_remember)");
  s = await B.client.getSession();
  check(s.data?.session?.token === inB.data?.token, "B's getSession is B's session", s.data?.session);
  check(days(s.data?.session?.expiresAt) > 0.9 && days(s.data?.session?.expiresAt) <= 1.01, "rememberMe: false session expires within a day", s.data?.session?.expiresAt);

  const C = browser(base, "C");
  const inC = await C.client.signIn.email({ email: email("ada"), password: PW });
  check(!inC.error && inC.data?.redirect === false && inC.data?.url === undefined, "signIn.email without callbackURL: redirect false, no url", inC.data ?? inC.error);
  check(sessionCookie(C)?.attrs["max-age"] === "604800", "signIn.email (rememberMe default) cookie Max-Age 7 days", sessionCookie(C)?.raw);

  // ---- listSessions / revokeSession ------------------------------------------------------
  let list = await A.client.listSessions();
  check(!list.error && Array.isArray(list.data), "listSessions answers an array", list);
  let tokens = (list.data ?? []).map((x) => x.token);
  check([up.data?.token, inB.data?.token, inC.data?.token].every((t) => tokens.includes(t)) && tokens.length === 3, "listSessions lists A, B and C", tokens);
  const one = (list.data ?? []).find((x) => x.token === inC.data?.token) ?? {};
  check(isStr(one.id) && one.userId === user.id && isDate(one.createdAt) && isDate(one.updatedAt) && isDate(one.expiresAt), "listSessions items: id, userId, createdAt, updatedAt, expiresAt", one);
  check(one.ipAddress === "127.0.0.1" && one.userAgent === C.ua, "listSessions items: ipAddress, userAgent", one);

  let r = await A.client.revokeSession({ token: inC.data?.token });
  check(!r.error && r.data?.status === true, "revokeSession({token}) answers {status: true}", r);
  s = await C.client.getSession();
  check(!s.error && s.data === null, "the revoked session is gone", s);
  r = await A.client.revokeSession({ token: "no-such-token" });
  check(!r.error && r.data?.status === true, "revokeSession of an unknown token: {status: true}", r);
  list = await A.client.listSessions();
  check(list.data?.length === 2, "listSessions after revokeSession: 2", list.data?.length);

  // ---- revokeOtherSessions --------------------------------------------------------------
  const D = browser(base, "D");
  check(!(await D.client.signIn.email({ email: email("ada"), password: PW })).error, "D signs in", null);
  r = await A.client.revokeOtherSessions();
  check(!r.error && r.data?.status === true, "revokeOtherSessions answers {status: true}", r);
  check((await B.client.getSession()).data === null && (await D.client.getSession()).data === null, "B and D are signed out", null);
  s = await A.client.getSession();
  check(s.data?.session?.token === up.data?.token, "A is still signed in", s.data);
  list = await A.client.listSessions();
  check(list.data?.length === 1, "listSessions after revokeOtherSessions: 1", list.data?.length);

  // ---- changePassword -------------------------------------------------------------------
  const E = browser(base, "E");
  check(!(await E.client.signIn.email({ email: email("ada"), password: PW })).error, "E signs in", null);
  e = await errorOf(A.client.changePassword({ currentPassword: "not it at all", newPassword: PW2 }));
  check(e?.status === 400 && e?.code === "INVALID_PASSWORD", "changePassword wrong current password: 400 INVALID_PASSWORD", e);
  e = await errorOf(A.client.changePassword({ currentPassword: PW, newPassword: "short" }));
  check(e?.status === 400 && e?.code === "PASSWORD_TOO_SHORT", "changePassword short new password: 400 PASSWORD_TOO_SHORT", e);
  const cp = await A.client.changePassword({ currentPassword: PW, newPassword: PW2, revokeOtherSessions: true });
  check(!cp.error, "changePassword succeeds", cp.error);
  check(isStr(cp.data?.token) && cp.data.token !== up.data?.token, "changePassword(revokeOtherSessions) answers a new token", cp.data);
  check(cp.data?.user?.id === user.id && cp.data?.user?.email === email("ada"), "changePassword answers the user", cp.data?.user);
  check(sessionCookie(A)?.value.split(".")[0] === cp.data?.token, "changePassword sets the new session cookie", sessionCookie(A)?.raw);
  s = await A.client.getSession();
  check(s.data?.session?.token === cp.data?.token, "A goes on under the new token", s.data?.session);
  check((await E.client.getSession()).data === null, "E is signed out by revokeOtherSessions", null);
  list = await A.client.listSessions();
  check(list.data?.length === 1 && list.data[0].token === cp.data?.token, "listSessions after changePassword: only the new session", list.data);
  e = await errorOf(browser(base, "Y").client.signIn.email({ email: email("ada"), password: PW }));
  check(e?.status === 401 && e?.code === "INVALID_EMAIL_OR_PASSWORD", "the old password no longer signs in", e);
  const F = browser(base, "F");
  check(!(await F.client.signIn.email({ email: email("ada"), password: PW2 })).error, "the new password signs in", null);
  const cp2 = await F.client.changePassword({ currentPassword: PW2, newPassword: PW });
  check(!cp2.error && cp2.data?.token === null, "changePassword without revokeOtherSessions: token null", cp2.data ?? cp2.error);
  check((await A.client.getSession()).data?.session?.token === cp.data?.token, "…and the other sessions live on", null);

  // ---- updateUser -----------------------------------------------------------------------
  const IMG2 = "https://example.com/ada-2.png";
  r = await A.client.updateUser({ name: "Ada Lovelace", image: IMG2 });
  check(!r.error && r.data?.status === true, "updateUser({name, image}) answers {status: true}", r);
  s = await A.client.getSession();
  check(s.data?.user?.name === "Ada Lovelace" && s.data?.user?.image === IMG2, "getSession shows the new name and image", s.data?.user);
  r = await A.client.updateUser({ image: null });
  s = await A.client.getSession();
  check(!r.error && s.data?.user?.image === null && s.data?.user?.name === "Ada Lovelace", "updateUser({image: null}) removes the image only", s.data?.user ?? r.error);
  // The client turns updateUser({}) into a GET; a page's own $fetch can still POST {}.
  e = await errorOf(A.client.$fetch("/update-user", { method: "POST", body: {} }));
  check(e?.status === 400, "POST /update-user {}: 400 (Better Auth: \"No fields to update\")", e ?? "200");
  e = await errorOf(A.client.updateUser({ email: email("other") }));
  check(e?.status === 400 && e?.code === "EMAIL_CAN_NOT_BE_UPDATED", "updateUser({email}): 400 EMAIL_CAN_NOT_BE_UPDATED", e ?? "200");

  // ---- revokeSessions -------------------------------------------------------------------
  r = await A.client.revokeSessions();
  check(!r.error && r.data?.status === true, "revokeSessions answers {status: true}", r);
  check((await A.client.getSession()).data === null && (await F.client.getSession()).data === null, "revokeSessions ends every session, this one too", null);
  e = await errorOf(A.client.listSessions());
  check(e?.status === 401 && e?.code === "UNAUTHORIZED", "listSessions signed out: 401 UNAUTHORIZED", e);

  // ---- signOut --------------------------------------------------------------------------
  const G = browser(base, "G");
  const inG = await G.client.signIn.email({ email: email("ada"), password: PW });
  check(!inG.error, "G signs in", inG.error);
  r = await G.client.signOut();
  check(!r.error && r.data?.success === true, "signOut answers {success: true}", r);
  check(!sessionCookie(G), "signOut clears the session cookie", [...G.jar.keys()]);
  check((await A.client.getSession()).data === null, "getSession after signOut: null", null);
  const G2 = browser(base, "G2");
  G2.jar.set("proxyhub.session_token", { value: inG.data?.token, attrs: {} });
  G2.jar.set("better-auth.session_token", { value: inG.data?.token, attrs: {} });
  check((await G2.client.getSession()).data === null, "the signed-out token is dead server-side", null);

  // ---- closed sign-up -------------------------------------------------------------------
  if (closedURL) {
    console.log(`# closed sign-up at ${closedURL}`);
    // On a fresh server the first account is allowed (it becomes the admin).
    await browser(closedURL, "first").client.signUp.email({ name: "Admin", email: "admin@example.com", password: PW });
    e = await errorOf(browser(closedURL, "Z").client.signUp.email({ name: "Zed", email: email("zed"), password: PW }));
    check(e?.status === 400 && e?.code === "EMAIL_PASSWORD_SIGN_UP_DISABLED", "closed sign-up: 400 EMAIL_PASSWORD_SIGN_UP_DISABLED", e);
  }

  // ---- two-factor, with Better Auth's twoFactorClient ------------------------------------
  {
    console.log("# two-factor");
    const T = browser(base, "T");
    const addr = email("tfa");
    await T.client.signUp.email({ name: "Tia", email: addr, password: PW });
    const en = await T.client.twoFactor.enable({ password: PW });
    check(isStr(en.data?.totpURI) && en.data.totpURI.startsWith("otpauth://totp/"), "twoFactor.enable: totpURI", en.data ?? en.error);
    check(Array.isArray(en.data?.backupCodes) && en.data.backupCodes.length === 10, "twoFactor.enable: 10 backup codes", en.data?.backupCodes);
    const uri = en.data.totpURI;
    let v = await T.client.twoFactor.verifyTotp({ code: "000000" });
    check(v.error?.status === 401 && v.error?.code === "INVALID_CODE", "a wrong code: 401 INVALID_CODE", v.error);
    v = await T.client.twoFactor.verifyTotp({ code: totp(uri) });
    check(!v.error, "twoFactor.verifyTotp turns it on", v.error);
    let s = await T.client.getSession();
    check(s.data?.user?.twoFactorEnabled === true, "user.twoFactorEnabled after verifying", s.data?.user);
    const P = browser(base, "P");
    const si = await P.client.signIn.email({ email: addr, password: PW });
    check(si.data?.twoFactorRedirect === true, "sign-in answers twoFactorRedirect", si.data ?? si.error);
    s = await P.client.getSession();
    check(s.data === null, "no session before the second factor", s.data);
    const fin = await P.client.twoFactor.verifyTotp({ code: totp(uri, 1) });
    check(!fin.error && isStr(fin.data?.token), "twoFactor.verifyTotp at sign-in starts the session", fin.data ?? fin.error);
    s = await P.client.getSession();
    check(s.data?.user?.email === addr, "signed in with both factors", s.data);
    const Q = browser(base, "Q");
    await Q.client.signIn.email({ email: addr, password: PW });
    const bc = await Q.client.twoFactor.verifyBackupCode({ code: en.data.backupCodes[0], trustDevice: true });
    check(!bc.error, "twoFactor.verifyBackupCode signs in", bc.error);
    check(Q.jar.has("proxyhub.trust_device"), "trustDevice: true leaves a trust cookie", [...Q.jar.keys()]);
    await Q.client.signOut();
    const trusted = await Q.client.signIn.email({ email: addr, password: PW });
    check(!trusted.data?.twoFactorRedirect && isStr(trusted.data?.token), "a trusted device signs in without a code", trusted.data ?? trusted.error);
    const R = browser(base, "R");
    await R.client.signIn.email({ email: addr, password: PW });
    const again = await R.client.twoFactor.verifyBackupCode({ code: en.data.backupCodes[0] });
    check(again.error?.code === "INVALID_BACKUP_CODE", "a backup code works once", again.error);
    const off = await T.client.twoFactor.disable({ password: PW });
    check(!off.error, "twoFactor.disable", off.error);
  }

  // ---- rate limit -----------------------------------------------------------------------
  if (limitedURL) {
    console.log(`# rate limit at ${limitedURL}`);
    const L = browser(limitedURL, "L");
    let hit = null;
    const seen = [];
    for (let i = 0; i < 6 && !hit; i++) {
      const res = await L.client.signIn.email({ email: "nobody@example.com", password: "wrong password" });
      seen.push(res.error?.status);
      if (res.error?.status === 429) hit = res.error;
    }
    check(!!hit, "sign-in attempts over the limit: 429", seen);
    const after = L.last.headers.get("x-retry-after");
    check(/^\d+$/.test(after ?? "") && Number(after) > 0, "429 carries X-Retry-After (seconds)", after);
    note(hit?.message === "Too many requests. Please try again later.", `429 message is ${fmt(hit?.message)}, Better Auth's "Too many requests. Please try again later." (and no code)`);
  }

  console.log(`# ${checks} checks, ${failures} failed`);
  process.exit(failures ? 1 : 0);
}

main().catch((err) => {
  console.error("FAIL unexpected error:", err);
  process.exit(1);
});
