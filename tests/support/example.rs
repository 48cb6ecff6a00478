//! The examples' binaries, for tests that check an example's contract from outside.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::redis_server::free_port;

/// Builds example `name` with every feature and the `test` profile, as `cargo test
/// --all-features` builds the examples (then this only finds it up to date; `cargo build` with the
/// `dev` profile would build the proc macros, and everything that uses them, a second time), and
/// answers its path.
pub(crate) fn build(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let binary = dir.join("examples").join(name);
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--profile", "test", "--example", name])
        .arg("--all-features")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // What `cargo test` sets for this test could make build scripts run again.
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy();
        if (var.starts_with("CARGO_") && var != "CARGO_HOME" && var != "CARGO_TARGET_DIR")
            || var == "OUT_DIR"
        {
            build.env_remove(var.as_ref());
        }
    }
    let status = build.status().expect("run cargo build");
    assert!(status.success(), "building the {name} example failed");
    assert!(binary.is_file(), "no {}", binary.display());
    binary
}

/// A running example process, killed when dropped, with the lines it printed on stdout so far.
pub(crate) struct Running {
    child: Child,
    pub(crate) port: u16,
    pub(crate) lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `binary` on a free `PORT` with `SESSION_SECRET` and `env` (nothing else from this
/// process's environment); answers it once it listens, or what it printed if it exits first.
pub(crate) fn start(binary: &Path, env: &[(&str, String)]) -> Result<Running, String> {
    let port = free_port(false);
    let mut child = Command::new(binary)
        .env_clear()
        .env("PORT", port.to_string())
        .env("SESSION_SECRET", "a secret of the example's test")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().expect("piped stdout");
    let collected = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            collected.lock().unwrap().push(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("the example's status") {
            // Give the reader thread the last lines.
            std::thread::sleep(Duration::from_millis(50));
            let mut out = lines.lock().unwrap().join("\n");
            let mut stderr = child.stderr.take().expect("piped stderr");
            stderr.read_to_string(&mut out).unwrap();
            return Err(format!("{status}: {out}"));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Running { child, port, lines });
        }
        assert!(Instant::now() < deadline, "the example did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An HTTP answer: status, body, and the `name=value` pair of the cookie it set, if any.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) cookie: Option<String>,
}

/// `GET path` on `running`, sending `cookie`.
pub(crate) fn get(running: &Running, path: &str, cookie: Option<&str>) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", running.port)).unwrap();
    let cookie_header = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie_header}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let mut set_cookie = None;
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        const SET_COOKIE: &str = "set-cookie: ";
        if line.to_ascii_lowercase().starts_with(SET_COOKIE) {
            let value = &line[SET_COOKIE.len()..];
            let pair = value.split(';').next().unwrap_or(value).trim();
            set_cookie = Some(pair.to_owned());
        }
    }
    let mut body = String::new();
    reader.read_to_string(&mut body).unwrap();
    Answer {
        status,
        body,
        cookie: set_cookie,
    }
}
