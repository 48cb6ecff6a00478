// The Node side of the load comparison: `node server.js MODE PORT [STORE_URL]` (the Redis URL,
// or for `express-pg` the PostgreSQL one).
//
// The same three routes as the Rust servers (see load/src/bin/server/main.rs), on express 5 with
// express-session configured as this crate's defaults: resave false, saveUninitialized false,
// not rolling, a cookie maxAge of one hour. Modes: `express` (no sessions, a counter in app
// state), `express-memory` (express-session's MemoryStore), `express-redis` (connect-redis on the
// `redis` client), `express-pg` (connect-pg-simple with its defaults, a pg pool of up to 10
// connections, on its table `session`, which scripts/bench creates from its table.sql).
'use strict';

const express = require('express');
const session = require('express-session');

const [mode, portArg, storeUrl = 'redis://127.0.0.1:6379'] = process.argv.slice(2);
const port = Number(portArg);
if (!['express', 'express-memory', 'express-redis', 'express-pg'].includes(mode) || !port) {
  console.error(
    'usage: node server.js express|express-memory|express-redis|express-pg PORT [STORE_URL]',
  );
  process.exit(2);
}

async function main() {
  const app = express();

  if (mode === 'express') {
    let visits = 1;
    app.get('/new', (req, res) => res.send('1'));
    app.get('/read', (req, res) => res.send(String(visits)));
    app.get('/incr', (req, res) => {
      visits += 1;
      res.send(String(visits));
    });
  } else {
    let store;
    if (mode === 'express-redis') {
      const { createClient } = require('redis');
      const { RedisStore } = require('connect-redis');
      const client = createClient({ url: storeUrl });
      client.on('error', (err) => console.error('redis:', err.message));
      await client.connect();
      store = new RedisStore({ client });
    } else if (mode === 'express-pg') {
      const PgSession = require('connect-pg-simple')(session);
      store = new PgSession({ conString: storeUrl });
    } else {
      store = new session.MemoryStore();
    }
    app.use(
      session({
        secret: 'keyboard cat',
        store,
        resave: false,
        saveUninitialized: false,
        cookie: { maxAge: 3600 * 1000 },
      }),
    );
    app.get('/new', (req, res) => {
      req.session.userId = 7;
      req.session.name = 'ada';
      req.session.visits = 1;
      res.send('1');
    });
    app.get('/read', (req, res) => {
      if (!req.session.visits) return res.status(409).end();
      res.send(String(req.session.visits));
    });
    app.get('/incr', (req, res) => {
      if (!req.session.visits) return res.status(409).end();
      req.session.visits += 1;
      res.send(String(req.session.visits));
    });
  }

  app.listen(port, '127.0.0.1');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
