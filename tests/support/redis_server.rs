//! Real Redis servers for the tests: a single `redis-server`, a three-master Redis Cluster, and
//! the servers with a compare-and-set of their own ([`NativeCas`]).
//!
//! Each server runs on a free port in a temporary directory, without persistence. A server is
//! killed when its handle is dropped, and also when the test process ends (even by a panic or a
//! signal): it runs under a small shell that kills it once the test process's end of a pipe
//! closes. So the shared servers ([`shared`], [`shared_cluster`]) that live in statics never
//! outlive the tests either.
#![allow(dead_code, unreachable_pub)]

use std::{
    io::{self, BufRead as _, BufReader, Read as _, Write as _},
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
    thread::{self, sleep},
    time::{Duration, Instant},
};

/// The command timeout of the stores whose tests are not about timeouts (tests/redis_outage.rs
/// pins the default of 500 ms): the acceptance suite's 2 MB record, and the stress tests' hundreds
/// of concurrent commands, can take longer than that on a small machine running other tests.
pub const GENEROUS_TIMEOUT: Duration = Duration::from_secs(10);

/// What to tell someone who has no `redis-server`.
const INSTALL_HINT: &str = "the Redis store's tests need `redis-server` and `redis-cli` on PATH: \
     run the README's test command (`scripts/test`), which installs them (Debian package \
     `redis-server`), or install them yourself";

/// How long a server may take to start, and a cluster to agree.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The single server that tests share (each test uses keys of its own).
pub fn shared() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(RedisServer::start)
}

/// The cluster that tests share.
pub fn shared_cluster() -> &'static RedisCluster {
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    CLUSTER.get_or_init(RedisCluster::start)
}

/// A server with a compare-and-set of its own (`SET … IFEQ`), which the store's saves use
/// instead of a script: the program that `scripts/test` gets and passes in an environment
/// variable.
#[derive(Clone, Copy, Debug)]
pub enum NativeCas {
    /// Valkey 8.1 or later: `VALKEY_SERVER` (see `scripts/valkey`).
    Valkey,
    /// Redis 8.4 or later: `REDIS8_SERVER` (see `scripts/redis8`).
    Redis8,
}

impl NativeCas {
    /// The environment variable, the script and the program of the kind.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Valkey => ("VALKEY_SERVER", "scripts/valkey", "valkey-server of 8.1"),
            Self::Redis8 => ("REDIS8_SERVER", "scripts/redis8", "redis-server of 8.4"),
        }
    }

    /// Starts a server of this kind on a free port.
    pub fn start(self) -> RedisServer {
        let (variable, script, program) = self.names();
        let path = std::env::var_os(variable)
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!(
                    "`{variable}` is not set: the tests of the native compare-and-set need a \
                 `{program}` or later: run the README's test command (`scripts/test`), which \
                 gets one with `{script}` and passes it in `{variable}`, or set `{variable}` \
                 yourself"
                )
            });
        let mut server = RedisServer::new(free_port(false), &[], None, None);
        server.program = Some(path);
        server.restart();
        server
    }

    /// The server of this kind that tests share (each test uses keys of its own).
    pub fn shared(self) -> &'static RedisServer {
        static VALKEY: OnceLock<RedisServer> = OnceLock::new();
        static REDIS8: OnceLock<RedisServer> = OnceLock::new();
        match self {
            Self::Valkey => VALKEY.get_or_init(|| self.start()),
            Self::Redis8 => REDIS8.get_or_init(|| self.start()),
        }
    }
}

/// One `redis-server` (or `valkey-server`) process.
pub struct RedisServer {
    /// The server program: `redis-server` on PATH when `None`.
    program: Option<PathBuf>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    /// A sentinel: the contents of its configuration file (which it rewrites).
    sentinel_config: Option<String>,
    /// The password `redis-cli` gives (`requirepass`).
    password: Option<String>,
    process: Option<Process>,
}

/// The shell that runs `redis-server` and kills it when `stdin` closes.
struct Process {
    shell: Child,
    stdin: ChildStdin,
}

impl RedisServer {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        Self::start_with(free_port(false), &[])
    }

    /// Starts a server on a free port with extra `redis-server` arguments.
    pub fn start_with_args(extra: &[&str]) -> Self {
        Self::start_with(free_port(false), extra)
    }

    /// Starts a server on `port` with extra `redis-server` arguments.
    fn start_with(port: u16, extra: &[&str]) -> Self {
        Self::start_full(port, extra, None, None)
    }

    /// Starts a server with extra arguments that requires `password` (`requirepass`); its
    /// [`cli`](Self::cli) authenticates with it.
    pub fn start_with_password(extra: &[&str], password: &str) -> Self {
        let mut args = extra.to_vec();
        args.extend(["--requirepass", password]);
        Self::start_full(free_port(false), &args, None, Some(password))
    }

    /// Starts a sentinel (`redis-server <config> --sentinel`) on a free port, with the
    /// configuration `config` (`sentinel monitor …` lines) and extra arguments.
    pub fn start_sentinel(config: &str, extra: &[&str], password: Option<&str>) -> Self {
        Self::start_full(free_port(false), extra, Some(config), password)
    }

    fn start_full(
        port: u16,
        extra: &[&str],
        sentinel_config: Option<&str>,
        password: Option<&str>,
    ) -> Self {
        let mut server = Self::new(port, extra, sentinel_config, password);
        server.restart();
        server
    }

    /// A server that is not started yet.
    fn new(
        port: u16,
        extra: &[&str],
        sentinel_config: Option<&str>,
        password: Option<&str>,
    ) -> Self {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "actix-typed-session-redis-{}-{}-{port}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        Self {
            program: None,
            port,
            dir,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            sentinel_config: sentinel_config.map(str::to_owned),
            password: password.map(str::to_owned),
            process: None,
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's temporary directory (its log is `redis.log` there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the server is running.
    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Kills the server (`SIGKILL`: no goodbye to its clients) and waits until its port is
    /// closed.
    pub fn stop(&mut self) {
        let Some(Process { mut shell, stdin }) = self.process.take() else {
            return;
        };
        drop(stdin);
        let _ = shell.wait();
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not stop",
                self.port
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again, on the same port, empty; waits until it answers `PING`.
    pub fn restart(&mut self) {
        self.stop();
        let redis_server = self
            .program
            .clone()
            .unwrap_or_else(|| which("redis-server"));
        std::fs::create_dir_all(&self.dir).expect("create the server's temporary directory");
        let mut args: Vec<String> = Vec::new();
        if let Some(config) = &self.sentinel_config {
            let file = self.dir.join("sentinel.conf");
            std::fs::write(&file, config).expect("write the sentinel's configuration");
            args.push(file.to_str().expect("a UTF-8 path").to_owned());
            args.push("--sentinel".to_owned());
        }
        args.extend(
            [
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
                "--daemonize",
                "no",
                "--dir",
                self.dir.to_str().expect("a UTF-8 temporary directory"),
                "--logfile",
                "redis.log",
            ]
            .iter()
            .map(|s| (*s).to_owned()),
        );
        args.extend(self.extra.iter().cloned());
        // `cat` returns when the test process's end of the pipe closes: on `stop`, on drop, or
        // when the process exits in any way.
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(concat!(
                r#""$0" "$@" & pid=$!; cat >/dev/null; kill -9 "$pid" 2>/dev/null; wait "$pid"; "#,
                r#"rm -rf "$REDIS_TEST_DIR""#
            ))
            .arg(redis_server)
            .args(&args)
            .env("REDIS_TEST_DIR", &self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sh");
        let stdin = shell.stdin.take().expect("a piped stdin");
        self.process = Some(Process { shell, stdin });
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.answers_ping() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                panic!("redis-server on port {} did not start:\n{log}", self.port);
            }
            sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0; 7];
        // A server with a password answers that it wants one: it is up.
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && (&reply == b"+PONG\r\n" || &reply == b"-NOAUTH")
    }

    /// The server process's id, as it reports it.
    pub fn pid(&self) -> u32 {
        self.cli(&["info", "server"])
            .lines()
            .find_map(|line| line.trim().strip_prefix("process_id:"))
            .and_then(|pid| pid.parse().ok())
            .expect("INFO server reports process_id")
    }

    /// Hangs the server (`SIGSTOP`): connections stay open and new ones are accepted by the
    /// kernel, but nothing is answered, as a server stuck on a slow disk or a swap storm. Answers
    /// the process id to give to [`thaw`](Self::thaw).
    pub fn freeze(&self) -> u32 {
        let pid = self.pid();
        signal(pid, "STOP");
        pid
    }

    /// Resumes a server hung by [`freeze`](Self::freeze) (`SIGCONT`).
    pub fn thaw(&self, pid: u32) {
        signal(pid, "CONT");
    }

    /// Runs `redis-cli` against this server and answers its output.
    #[track_caller]
    pub fn cli(&self, args: &[&str]) -> String {
        match &self.password {
            None => redis_cli(self.port, args),
            Some(password) => {
                let mut all = vec!["--no-auth-warning", "-a", password.as_str()];
                all.extend_from_slice(args);
                redis_cli(self.port, &all)
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three masters, no replicas.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them with `redis-cli --cluster create` and
    /// waits until every node reports `cluster_state:ok`.
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(
                    free_port(true),
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "5000",
                    ],
                )
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let output = Command::new(which("redis-cli"))
            .args(&args)
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let deadline = Instant::now() + START_TIMEOUT;
        for node in &nodes {
            while !node.cli(&["cluster", "info"]).contains("cluster_state:ok") {
                assert!(Instant::now() < deadline, "the cluster did not become ok");
                sleep(Duration::from_millis(50));
            }
        }
        Self { nodes }
    }

    /// The URL of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}

/// A port that nobody listens on; for a cluster node, its bus port (+10000) is free too.
fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

pub fn free_port(with_bus: bool) -> u16 {
    for _ in 0..100 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
        let port = listener.local_addr().expect("a local address").port();
        if !with_bus {
            return port;
        }
        if let Some(bus) = port.checked_add(10_000) {
            if TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_ok() {
                return port;
            }
        }
    }
    panic!("no free port pair for a cluster node");
}

/// The path of `program` on PATH, or a panic that says how to get it.
fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("`{program}` not found: {INSTALL_HINT}"))
}

#[track_caller]
fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new(which("redis-cli"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(output.status.success(), "redis-cli {args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// A TCP proxy in front of a Redis server that logs every command its clients send, one entry
/// per request (so per round trip, as nothing here pipelines): `["GET", "EVALSHA", …]`.
pub struct CommandLog {
    port: u16,
    commands: Arc<Mutex<Vec<String>>>,
}

impl CommandLog {
    /// Starts a proxy to the server on `target` (127.0.0.1).
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy");
        let port = listener.local_addr().expect("a local address").port();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&commands);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target)) else {
                    continue;
                };
                let (mut from_server, mut to_client) = (
                    server.try_clone().expect("clone a socket"),
                    client.try_clone().expect("clone a socket"),
                );
                thread::spawn(move || {
                    let _ = io::copy(&mut from_server, &mut to_client);
                    let _ = to_client.shutdown(std::net::Shutdown::Both);
                });
                let log = Arc::clone(&log);
                thread::spawn(move || {
                    let _ = forward_requests(client, server, &log);
                });
            }
        });
        Self { port, commands }
    }

    /// `redis://127.0.0.1:<proxy port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The commands logged since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.commands.lock().unwrap())
    }
}

/// Copies RESP requests from `client` to `server`, logging each one's command name.
fn forward_requests(
    client: TcpStream,
    mut server: TcpStream,
    log: &Mutex<Vec<String>>,
) -> io::Result<()> {
    let mut reader = BufReader::new(client);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            let _ = server.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
        let mut request = line.clone().into_bytes();
        let count: usize = line
            .strip_prefix('*')
            .and_then(|n| n.trim_end().parse().ok())
            .ok_or_else(|| io::Error::other(format!("not a RESP array: {line:?}")))?;
        let mut name = None;
        for _ in 0..count {
            line.clear();
            reader.read_line(&mut line)?;
            let len: usize = line
                .strip_prefix('$')
                .and_then(|n| n.trim_end().parse().ok())
                .ok_or_else(|| io::Error::other(format!("not a bulk string: {line:?}")))?;
            request.extend_from_slice(line.as_bytes());
            let mut bulk = vec![0; len + 2];
            reader.read_exact(&mut bulk)?;
            if name.is_none() {
                name = Some(String::from_utf8_lossy(&bulk[..len]).to_ascii_uppercase());
            }
            request.extend_from_slice(&bulk);
        }
        log.lock().unwrap().push(name.unwrap_or_default());
        server.write_all(&request)?;
    }
}
