//! The two apps that share sessions through one store (Redis, or a PostgreSQL table): the Rust
//! twin (the code of `examples/express_interop.rs`, served by a real `HttpServer` in this process)
//! and the Node twin (`node tests/interop/server.js`, express-session + connect-redis or
//! connect-pg-simple).
//!
//! Both get the routes under `/test/` that let the tests see what each side sees.

use std::{
    fs::File,
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    thread::{self, sleep},
    time::{Duration, Instant},
};

use actix_typed_session::{store::SessionStore, RedisStore, Session, SessionData};
use actix_web::{dev::ServerHandle, rt::System, web, App, HttpServer};

use crate::twin_app;

/// How long a twin may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What to tell someone whose checkout has no Node packages.
const NPM_HINT: &str = "the interop tests need the Node twin's packages: run the README's test \
     command (`scripts/test`), which runs `npm ci` in tests/interop, or run `npm ci` there yourself";

/// The Rust twin, on a free port, with its own actix `System` on a thread of its own.
pub(crate) struct RustTwin {
    port: u16,
    handle: ServerHandle,
    thread: Option<thread::JoinHandle<std::io::Result<()>>>,
}

impl RustTwin {
    /// Serves the example's middleware and routes, plus the test routes, on the Redis at
    /// `redis_url`, with `secrets` (comma-separated, as `SESSION_SECRET`) and sessions that live
    /// `max_age`.
    #[allow(dead_code)] // tests/interop_pg.rs serves a PgStore
    pub(crate) fn start(redis_url: &str, secrets: &str, max_age: Duration) -> Self {
        let store = RedisStore::new(redis_url).expect("a valid Redis URL");
        Self::serve(store, secrets, max_age)
    }

    /// As [`start`](Self::start), on `store`.
    pub(crate) fn serve<S: SessionStore>(store: S, secrets: &str, max_age: Duration) -> Self {
        let secrets: Vec<String> = secrets.split(',').map(str::to_owned).collect();
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap(twin_app::sessions(store.clone(), secrets.clone(), max_age))
                        .configure(twin_app::routes)
                        .configure(test_routes)
                })
                .workers(2)
                .disable_signals()
                .bind(("127.0.0.1", 0))?;
                let port = server.addrs()[0].port();
                let server = server.run();
                tx.send((port, server.handle())).expect("the test waits");
                server.await
            })
        });
        let (port, handle) = rx.recv().expect("the Rust twin started");
        Self {
            port,
            handle,
            thread: Some(thread),
        }
    }

    /// The port it listens on (127.0.0.1).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for RustTwin {
    fn drop(&mut self) {
        System::new().block_on(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The session's cookie as the handler sees it (`/test/cookie`), in the Node twin's format.
async fn cookie(session: Session<Nothing>) -> String {
    let cookie = session.cookie();
    let ms = |v: Option<i64>| v.map_or("null".to_owned(), |v| v.to_string());
    format!(
        "expires={} maxAge={} originalMaxAge={}",
        cookie.expires().map_or("none".to_owned(), |e| {
            (e.unix_timestamp_nanos() / 1_000_000).to_string()
        }),
        ms(cookie.max_age_ms()),
        ms(cookie.original_max_age_ms())
    )
}

/// A view of no field.
#[derive(SessionData, Default)]
struct Nothing {}

/// Fields stored under names that express-session's `Session` keeps for itself.
#[derive(SessionData, Default)]
struct Reserved {
    #[session(rename = "id")]
    id_field: Option<String>,
    save: Option<String>,
    #[session(rename = "resetMaxAge")]
    reset_max_age: Option<String>,
    kept: Option<String>,
}

/// Sets the `Reserved` fields, and a control field `kept` (`/test/reserved`).
async fn reserved(mut session: Session<Reserved>) -> &'static str {
    let data = &mut *session;
    for field in [
        &mut data.id_field,
        &mut data.save,
        &mut data.reset_max_age,
        &mut data.kept,
    ] {
        *field = Some("rust".to_owned());
    }
    "set"
}

fn test_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/test/cookie", web::get().to(cookie))
        .route("/test/reserved", web::get().to(reserved));
}

/// The Node twin, on a free port. It is killed when this handle is dropped, and also when the
/// test process ends in any way (it runs under a shell that kills it once the test process's
/// end of a pipe closes, as the Redis harness does).
pub(crate) struct NodeTwin {
    port: u16,
    shell: Child,
    stdin: Option<ChildStdin>,
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("a local address").port()
}

impl NodeTwin {
    /// Starts `node server.js` on the Redis at `redis_url` with `SESSION_SECRET=secrets` and
    /// `MAX_AGE_MS=max_age`, and waits until it listens.
    #[allow(dead_code)] // tests/interop_pg.rs runs it on PostgreSQL
    pub(crate) fn start(redis_url: &str, secrets: &str, max_age: Duration) -> Self {
        Self::with_store(&[("REDIS_URL", redis_url)], secrets, max_age)
    }

    /// As [`start`](Self::start), on the store that `store_env` names (`REDIS_URL`, or
    /// `DATABASE_URL` with `PG_TABLE` and `PG_CREATE_TABLE`: see server.js).
    pub(crate) fn with_store(store_env: &[(&str, &str)], secrets: &str, max_age: Duration) -> Self {
        let dir = interop_dir();
        assert!(dir.join("node_modules").is_dir(), "{NPM_HINT}");
        let port = free_port();
        let log_path = std::env::temp_dir().join(format!(
            "actix-typed-session-node-twin-{}-{port}.log",
            std::process::id()
        ));
        let log = File::create(&log_path).expect("create the Node twin's log");
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$@" & pid=$!; cat >/dev/null; kill -9 "$pid" 2>/dev/null; wait "$pid""#)
            .arg("node")
            .arg("server.js")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .env("SESSION_SECRET", secrets)
            .envs(store_env.iter().copied())
            .env("MAX_AGE_MS", max_age.as_millis().to_string())
            .env("INTEROP_TEST_ROUTES", "1")
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone the log's handle"))
            .stderr(log)
            .spawn()
            .expect("start sh");
        let stdin = shell.stdin.take();
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            let exited = shell.try_wait().expect("poll the Node twin").is_some();
            if exited || Instant::now() > deadline {
                let output = std::fs::read_to_string(&log_path).unwrap_or_default();
                let hint = if output.contains("not found") || output.contains("ENOENT") {
                    "\n(is `node` on PATH? the interop tests need Node.js 18 or later)"
                } else {
                    ""
                };
                panic!("the Node twin did not start on port {port}:\n{output}{hint}");
            }
            sleep(Duration::from_millis(25));
        }
        let _ = std::fs::remove_file(&log_path);
        Self { port, shell, stdin }
    }

    /// The port it listens on (127.0.0.1).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for NodeTwin {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.shell.wait();
    }
}
