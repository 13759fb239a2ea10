// A real OpenID provider (npm oidc-provider) on loopback, for Flotilla's single sign-on tests
// (tests/src/oidc_provider.rs starts it). Never for production: in-memory storage and the
// development login pages, where any password is accepted.
//
//   node tests/oidc/provider.mjs '<settings JSON>'      (or the settings in FLOTILLA_OIDC_PROVIDER)
//
// Settings:
//   port            listening port on 127.0.0.1 (required)
//   issuer          default http://127.0.0.1:<port>
//   clients         [{ client_id, client_secret, redirect_uris }]
//   accounts        [{ sub, email, email_verified, name }] (an empty email: none is shared);
//                   the login typed at the login prompt (any password) is matched against
//                   email, then sub; an unknown login is asked for again
//   claimsInIdToken put the scope's claims (email, name) in the ID token as well; by default they
//                   come from the userinfo endpoint only, as OpenID Connect Core 5.4 says when an
//                   access token is issued (oidc-provider's conformIdTokenClaims)
//   idTokenTtl      ID token lifetime in seconds (default 3600)
//   clockSkew       seconds added to this process's clock (negative: the provider runs late),
//                   to issue ID tokens that are already expired
//   idTokenAudience test knob: sign ID tokens for this audience instead of the client's (a
//                   provider that mixes up its clients), to test the relying party's aud check
//   exitWithStdin   exit when stdin closes: the test harness holds it open, so that the
//                   provider cannot outlive a test process that was killed
//
// Prints `READY <issuer>` on stdout once listening. Each start signs with a freshly generated RSA
// key (its kid random), so that restarting on the same port is a signing key rotation.
//
// GET /__test/requests answers the number of requests seen per path since the start, so that
// tests can count discovery and JWKS fetches from the provider's side. Token endpoint refusals
// are written to stderr with their reason (`grant.error invalid_grant: <why>`).

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const settings = JSON.parse(process.argv[2] ?? process.env.FLOTILLA_OIDC_PROVIDER ?? '{}');
const port = Number(settings.port);
if (!Number.isInteger(port) || port <= 0) {
  console.error('provider.mjs: settings.port is required');
  process.exit(2);
}
const issuer = settings.issuer ?? `http://127.0.0.1:${port}`;
const accounts = settings.accounts ?? [];
const clockSkewMs = Number(settings.clockSkew ?? 0) * 1000;

if (clockSkewMs !== 0) {
  // oidc-provider reads the time through Date.now (its epochTime helper) for iat and exp.
  const realNow = Date.now;
  Date.now = () => realNow() + clockSkewMs;
}

const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

function accountFor(login) {
  return accounts.find((account) => account.email === login)
    ?? accounts.find((account) => account.sub === login);
}

const provider = new Provider(issuer, {
  clients: (settings.clients ?? []).map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
  })),
  jwks: { keys: [signingKey] },
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  conformIdTokenClaims: !settings.claimsInIdToken,
  ttl: {
    IdToken: Number(settings.idTokenTtl ?? 3600),
    AccessToken: 3600,
    Interaction: 3600,
    Session: 3600,
    Grant: 3600,
  },
  features: {
    devInteractions: { enabled: true },
  },
  // `id` is an account's sub (the login form's middleware below maps emails to it); oidc-provider
  // issues the accountId as `sub`.
  async findAccount(_ctx, id) {
    const account = accounts.find((candidate) => candidate.sub === id);
    if (!account) {
      return undefined;
    }
    return {
      accountId: id,
      async claims() {
        return {
          sub: account.sub,
          email: account.email || undefined,
          email_verified: account.email ? account.email_verified : undefined,
          name: account.name,
        };
      },
    };
  },
});

if (settings.idTokenAudience !== undefined) {
  const { issue } = provider.IdToken.prototype;
  provider.IdToken.prototype.issue = function issueForAnotherAudience(options) {
    const { client } = this;
    this.client = new Proxy(client, {
      get: (target, property) => (property === 'clientId'
        ? settings.idTokenAudience
        : Reflect.get(target, property)),
    });
    return issue.call(this, options);
  };
}

const requests = {};
provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/requests') {
    ctx.body = requests;
    return;
  }
  requests[ctx.path] = (requests[ctx.path] ?? 0) + 1;
  if (ctx.method === 'POST' && ctx.path.startsWith('/interaction/')) {
    // devInteractions makes the typed login the accountId, which oidc-provider issues as `sub`:
    // the login form takes an email, the ID token must carry the account's sub. oidc-provider
    // reads an upstream-parsed body from ctx.request.body.
    const chunks = [];
    for await (const chunk of ctx.req) {
      chunks.push(chunk);
    }
    const body = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()));
    if (body.prompt === 'login') {
      body.login = accountFor(body.login)?.sub ?? body.login;
    }
    ctx.request.body = body;
  }
  await next();
});

// The reason for each refusal at the token endpoint, which its answer keeps generic
// (invalid_grant: "grant request is invalid"), for tests to check.
for (const event of ['grant.error', 'userinfo.error', 'server_error']) {
  provider.on(event, (_ctx, error) => {
    const detail = error.error_detail ?? error.cause?.message ?? error.message;
    console.error(`${event} ${error.error ?? ''}: ${detail}`);
  });
}

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});
server.on('error', (error) => {
  console.error(`provider.mjs: ${error.message}`);
  process.exit(1);
});
if (settings.exitWithStdin) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
