// The Node twin of examples/express_interop.rs: the same routes and bodies, on express +
// express-session + connect-redis (or connect-pg-simple), so that both apps can share one login.
//
// Environment: PORT, SESSION_SECRET (comma-separated; the first signs), MAX_AGE_MS (the session
// lifetime, default one hour), and the store:
// - DATABASE_URL set (`postgres://user@host:port/db`): connect-pg-simple on that database, in
//   table PG_TABLE (default `session`), created when missing if PG_CREATE_TABLE=1
//   (`createTableIfMissing`). The server's TimeZone must be UTC (see PgStore's documentation).
// - otherwise connect-redis on REDIS_URL (default redis://127.0.0.1:6379).
// INTEROP_TEST_ROUTES=1 adds the routes under /test/ that tests/interop*.rs use to see what Node
// sees.
'use strict'

const express = require('express')
const session = require('express-session')

async function main () {
  const port = Number(process.env.PORT || 3000)
  const maxAge = Number(process.env.MAX_AGE_MS || 3600 * 1000)
  const secrets = (process.env.SESSION_SECRET || 'development secret').split(',')

  const app = express()
  app.use(session({
    name: 'connect.sid',
    secret: secrets,
    store: await store(),
    resave: false,
    saveUninitialized: false,
    // actix-typed-session's cookie defaults, which express-session's are not: without these,
    // Node's cookie has no SameSite and is never Secure.
    cookie: { maxAge, sameSite: 'lax', secure: 'auto' }
  }))

  // Login keeps the session's data under a new id (the Rust side's cycle_id).
  app.get('/login', (req, res, next) => {
    const user = String(req.query.user || '')
    const data = {}
    for (const key of Object.keys(req.session)) {
      if (key !== 'cookie') data[key] = req.session[key]
    }
    req.session.regenerate((err) => {
      if (err) return next(err)
      Object.assign(req.session, data)
      req.session.user = user
      res.type('text').send(`user=${user}`)
    })
  })

  app.get('/visit', (req, res) => {
    req.session.views = (req.session.views || 0) + 1
    res.type('text').send(`views=${req.session.views}`)
  })

  app.get('/whoami', (req, res) => {
    res.type('text').send(`user=${req.session.user || 'none'} views=${req.session.views || 0}`)
  })

  // Logout destroys the session and expires the cookie, as the Rust side does.
  app.get('/logout', (req, res, next) => {
    req.session.destroy((err) => {
      if (err) return next(err)
      res.clearCookie('connect.sid', { path: '/' })
      res.type('text').send('logged out')
    })
  })

  if (process.env.INTEROP_TEST_ROUTES === '1') testRoutes(app)

  app.listen(port, '127.0.0.1', () => console.log(`node twin listening on ${port}`))
}

// connect-pg-simple when DATABASE_URL is set, connect-redis otherwise.
async function store () {
  if (process.env.DATABASE_URL) {
    const PgSession = require('connect-pg-simple')(session)
    return new PgSession({
      conString: process.env.DATABASE_URL,
      tableName: process.env.PG_TABLE || 'session',
      createTableIfMissing: process.env.PG_CREATE_TABLE === '1'
    })
  }
  const { RedisStore } = require('connect-redis')
  const { createClient } = require('redis')
  const client = createClient({ url: process.env.REDIS_URL || 'redis://127.0.0.1:6379' })
  client.on('error', (err) => console.error('redis:', err.message))
  await client.connect()
  return new RedisStore({ client })
}

// Routes for the tests only: set, increment and read any field as Node sees it, and the
// session's cookie.
function testRoutes (app) {
  app.get('/test/set', (req, res) => {
    req.session[req.query.field] = JSON.parse(req.query.json)
    res.type('text').send(`set ${req.query.field}`)
  })

  app.get('/test/incr', (req, res) => {
    const field = req.query.field
    req.session[field] = (req.session[field] || 0) + 1
    res.type('text').send(`${field}=${req.session[field]}`)
  })

  app.get('/test/get', (req, res) => {
    res.type('text').send(String(JSON.stringify(req.session[req.query.field])))
  })

  // As loaded: express touches the cookie only once the response is sent.
  app.get('/test/cookie', (req, res) => {
    const cookie = req.session.cookie
    const expires = cookie.expires ? cookie.expires.getTime() : 'none'
    res.type('text').send(
      `expires=${expires} maxAge=${cookie.maxAge} originalMaxAge=${cookie.originalMaxAge}`
    )
  })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
