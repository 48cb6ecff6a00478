//! A real PostgreSQL server for the tests: `initdb` into a temporary directory, `postgres` on a
//! free port, with `pg_stat_statements` loaded (tests count the statements a request costs).
//!
//! PostgreSQL refuses to run as root: as root, every command runs as the user `postgres`
//! (`runuser`), which Debian's `postgresql` package creates. The server runs under a small shell
//! that stops it once the test process's end of a pipe closes, so a server never outlives the
//! tests, even after a panic or a signal; its directory is removed with it.
#![allow(dead_code, unreachable_pub)]

use std::{
    io::Write as _,
    net::{Ipv4Addr, TcpListener},
    path::PathBuf,
    process::{Child, ChildStdin, Command, Output, Stdio},
    sync::OnceLock,
    thread::sleep,
    time::{Duration, Instant},
};

/// What to tell someone who has no PostgreSQL.
const INSTALL_HINT: &str = "the PostgreSQL store's tests need PostgreSQL's server programs \
     (`initdb`, `postgres`, `pg_ctl`, `pg_isready`): run the README's test command \
     (`scripts/test`), which installs them (Debian package `postgresql`), or install them \
     yourself (`brew install postgresql` on macOS)";

/// How long a server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The server that tests share (each test uses a table of its own).
pub fn shared() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(PgServer::start)
}

/// One PostgreSQL server, with its own data directory.
pub struct PgServer {
    port: u16,
    /// The temporary directory: `data/` (the cluster), the socket, `log`.
    dir: PathBuf,
    bin: PathBuf,
    process: Option<Process>,
    /// More `-c name=value` settings for `postgres` (TLS).
    settings: Vec<String>,
}

/// The shell that runs `postgres` and stops it when `stdin` closes.
struct Process {
    shell: Child,
    stdin: ChildStdin,
}

impl PgServer {
    /// A new cluster (`initdb`), started on a free port.
    pub fn start() -> Self {
        let mut server = Self::init();
        server.run();
        server
    }

    /// A new cluster that speaks TLS with the certificates in `certs` (`server.pem`,
    /// `server.key`, and `ca.pem` for client certificates) and refuses plaintext TCP
    /// connections (`hostnossl … reject`). The user `client` authenticates with a client
    /// certificate whose common name is `client` (`cert`), the user `scram` with a password
    /// (`scram-sha-256`), every other user is trusted (over TLS); the roles are not created.
    pub fn start_tls(certs: &std::path::Path) -> Self {
        let mut server = Self::init();
        let data = server.dir.join("data");
        for (name, mode) in [
            ("server.pem", 0o644),
            ("server.key", 0o600),
            ("ca.pem", 0o644),
        ] {
            let bytes = std::fs::read(certs.join(name)).expect("read a test certificate");
            server.write_file(&data.join(name), &bytes, mode);
        }
        server.write_file(
            &data.join("pg_hba.conf"),
            b"local all all trust\n\
              hostssl all client 127.0.0.1/32 cert\n\
              hostssl all scram 127.0.0.1/32 scram-sha-256\n\
              hostssl all all 127.0.0.1/32 trust\n\
              hostnossl all all 127.0.0.1/32 reject\n",
            0o600,
        );
        server.settings = [
            "ssl=on",
            "ssl_cert_file=server.pem",
            "ssl_key_file=server.key",
            "ssl_ca_file=ca.pem",
        ]
        .map(str::to_owned)
        .to_vec();
        server.run();
        server
    }

    /// Writes `path` (in the data directory) with `mode`, owned by the user that runs the
    /// server.
    fn write_file(&self, path: &std::path::Path, bytes: &[u8], mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;

        std::fs::write(path, bytes).expect("write a file of the server");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .expect("set a file's mode");
        if is_root() {
            let status = Command::new("chown")
                .arg("postgres")
                .arg(path)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown postgres {}", path.display());
        }
    }

    /// A new cluster (`initdb`) on a free port, not started.
    fn init() -> Self {
        let bin = bin_dir();
        let dir = PathBuf::from(stdout(
            as_server_user("mktemp").args(["-d", "/tmp/actix-session-pg.XXXXXX"]),
        ));
        let data = dir.join("data");
        let out = as_server_user(&bin.join("initdb").to_string_lossy())
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .arg("--no-sync")
            .arg("-D")
            .arg(&data)
            .output()
            .expect("run initdb");
        check(&out, "initdb");
        Self {
            port: free_port(),
            dir,
            bin,
            process: None,
            settings: Vec::new(),
        }
    }

    /// The connection string of the server's `postgres` database.
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's Unix socket (`host=<dir>` in a connection string).
    pub fn socket_dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Runs `sql` with `psql`, answering its output (unaligned, tuples only).
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
            ])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-c", sql])
            .output()
            .expect("run psql");
        check(&out, "psql");
        String::from_utf8(out.stdout)
            .expect("UTF-8")
            .trim_end()
            .to_owned()
    }

    /// Stops the server (a fast shutdown: connections are closed), keeping its data.
    pub fn stop(&mut self) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        std::fs::write(self.dir.join("keep"), b"")
            .or_else(|_| {
                as_server_user("touch")
                    .arg(self.dir.join("keep"))
                    .status()
                    .map(|_| ())
            })
            .expect("mark the data as kept");
        drop(process.stdin);
        process.shell.wait().expect("wait for postgres to stop");
    }

    /// Starts the stopped server again, on the same port with the same data.
    pub fn restart(&mut self) {
        assert!(self.process.is_none(), "the server is running");
        let _ = std::fs::remove_file(self.dir.join("keep"));
        let _ = as_server_user("rm")
            .arg("-f")
            .arg(self.dir.join("keep"))
            .status();
        self.run();
    }

    /// Stops every process of the server with `SIGSTOP` (a hung server: connections stay open,
    /// nothing answers); answers their pids for [`thaw`](Self::thaw).
    pub fn freeze(&self) -> Vec<u32> {
        let pids = self.processes();
        signal("-STOP", &pids);
        pids
    }

    /// Resumes the processes that [`freeze`](Self::freeze) stopped.
    pub fn thaw(&self, pids: &[u32]) {
        signal("-CONT", pids);
    }

    /// The postmaster (`data/postmaster.pid`) and its children.
    fn processes(&self) -> Vec<u32> {
        let pidfile = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .expect("a running server has a postmaster.pid");
        let postmaster: u32 = pidfile.lines().next().unwrap().trim().parse().unwrap();
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<u32>().ok());
            if ppid == Some(postmaster) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Runs `postgres` under a shell that stops it when its stdin closes, and waits until it
    /// accepts connections.
    fn run(&mut self) {
        let data = self.dir.join("data");
        let postgres = self.bin.join("postgres");
        let script = format!(
            "'{postgres}' -D '{data}' -p {port} -k '{dir}' -c listen_addresses=127.0.0.1 \
               -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
               -c TimeZone=UTC -c max_connections=200 \
               -c shared_preload_libraries=pg_stat_statements{settings} >>'{dir}/log' 2>&1 & \
             pid=$!; \
             cat >/dev/null; kill -INT $pid; wait $pid; \
             [ -e '{dir}/keep' ] || rm -rf '{dir}'",
            postgres = postgres.display(),
            data = data.display(),
            port = self.port,
            dir = self.dir.display(),
            settings = self
                .settings
                .iter()
                .map(|setting| format!(" -c {setting}"))
                .collect::<String>(),
        );
        let mut shell = as_server_user("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let stdin = shell.stdin.take().expect("piped stdin");
        self.process = Some(Process { shell, stdin });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .expect("run pg_isready");
            if ready.success() {
                return;
            }
            if let Some(process) = &mut self.process {
                if let Ok(Some(status)) = process.shell.try_wait() {
                    panic!(
                        "postgres exited ({status}): {}",
                        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not start within {START_TIMEOUT:?}: {}",
                std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
            );
            sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.stdin.flush();
            drop(process.stdin);
            let _ = process.shell.wait();
        } else {
            let _ = as_server_user("rm").arg("-rf").arg(&self.dir).status();
        }
    }
}

/// Sends `signal` (`-STOP`, `-CONT`) to `pids`.
fn signal(signal: &str, pids: &[u32]) {
    let status = Command::new("kill")
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pids:?}");
}

/// Whether this process runs as root (PostgreSQL then runs as `postgres`).
fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
    })
}

/// `program`, run as the user `postgres` when this process is root.
fn as_server_user(program: &str) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", program]);
        command
    } else {
        Command::new(program)
    }
}

/// The directory of PostgreSQL's server programs: where `initdb` on `PATH` really is (Debian
/// links it from `/usr/lib/postgresql/<version>/bin`), or the newest
/// `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("initdb"))
            .find(|initdb| initdb.is_file())
    });
    if let Some(initdb) = on_path {
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        let dir = real.parent().expect("a directory").to_path_buf();
        if dir.join("postgres").is_file() && dir.join("pg_isready").is_file() {
            return dir;
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).expect(INSTALL_HINT)
}

/// A free TCP port on the loopback interface.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn stdout(command: &mut Command) -> String {
    let out = command.output().expect(INSTALL_HINT);
    check(&out, "command");
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .trim()
        .to_owned()
}

#[track_caller]
fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
