'use strict';
// Starts @nhost/stripe-graphql-js (the peer of benches/scenarios.rs) against a Stripe stand-in.
//
// The package keeps one module-level stripe-node client in `dist/utils` (created when that
// module is first required, from STRIPE_SECRET_KEY). This launcher requires that module
// first, points the client at PEER_STRIPE_BASE with stripe-node's `setHost(host, port,
// protocol)`, then creates the package's server (GraphQL Yoga) and serves it on
// 127.0.0.1:PEER_PORT at /graphql. It prints one line, `listening on <url>`, once ready.
//
// Environment (all required):
//   PEER_DIR            folder whose node_modules holds the package (the bench's scratch folder)
//   PEER_STRIPE_BASE    where "Stripe" is, e.g. http://127.0.0.1:40123 (no /v1)
//   PEER_PORT           port to listen on, on 127.0.0.1
//   STRIPE_SECRET_KEY   the key the stand-in accepts
//   NHOST_ADMIN_SECRET  the package admits requests whose `x-hasura-admin-secret` header
//                       equals it (its default permission rule: admins only)

const http = require('node:http');
const path = require('node:path');
const { createRequire } = require('node:module');

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`launch.js: ${name} must be set`);
    process.exit(2);
  }
  return value;
}

const peerDir = required('PEER_DIR');
const base = new URL(required('PEER_STRIPE_BASE'));
const port = Number.parseInt(required('PEER_PORT'), 10);
required('STRIPE_SECRET_KEY');
required('NHOST_ADMIN_SECRET');
if (base.protocol !== 'http:' && base.protocol !== 'https:') {
  console.error(`launch.js: PEER_STRIPE_BASE must be an http(s) URL, not ${base.href}`);
  process.exit(2);
}

const fromPeer = createRequire(path.join(path.resolve(peerDir), 'package.json'));
// The same module instance the package's resolvers use (Node caches modules by file).
const { stripe } = fromPeer('@nhost/stripe-graphql-js/dist/utils');
const protocol = base.protocol.slice(0, -1);
const stripePort = base.port || (protocol === 'https' ? 443 : 80);
// Deprecated in stripe-node 10 in favour of constructor options, which the package does not
// expose; each call prints one deprecation warning on stderr.
stripe.setHost(base.hostname, stripePort, protocol);

const { createStripeGraphQLServer } = fromPeer('@nhost/stripe-graphql-js');
const server = http.createServer(createStripeGraphQLServer({ graphiql: false }));
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}/graphql`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
