//! A certificate authority made for a test run, and `redis-server`s that speak TLS with its
//! certificates.
//!
//! The keys and certificates are made with the `openssl` command (EC P-256, valid two days) in
//! a temporary directory that is removed when the [`TestCa`] is dropped.
#![allow(dead_code, unreachable_pub)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
};

use super::redis_server::RedisServer;

/// A CA, a server certificate (for `127.0.0.1` and `localhost`) and a client certificate it
/// signed, and a second CA that signed nothing of these.
pub struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    /// Makes the keys and certificates.
    pub fn new() -> Self {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "actix-typed-session-ca-{}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create the CA's directory");
        let script = r#"
set -e
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
for ca in ca other-ca; do
  openssl req -x509 $ec -keyout $ca.key -out $ca.pem -days 2 -subj "/CN=$ca of a test" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
done
for name in server client; do
  openssl req $ec -keyout $name.key -out $name.csr -subj "/CN=$name"
  printf "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n" > $name.ext
  openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $name.pem -days 2 -extfile $name.ext
done
"#;
        let output = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(&dir)
            .output()
            .expect(
                "run openssl (the TLS tests need the `openssl` command: scripts/test installs it)",
            );
        assert!(
            output.status.success(),
            "making the test certificates failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Self { dir }
    }

    /// The path of one of its files: `ca.pem`, `other-ca.pem`, `server.pem`, `server.key`,
    /// `client.pem`, `client.key`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The contents of one of its files.
    pub fn pem(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read a test certificate")
    }

    /// The directory of its files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `redis-server` arguments for a TLS port with the server certificate (and this CA for
    /// client certificates, required when `auth_clients`), also for replication.
    pub fn server_args(&self, tls_port: u16, auth_clients: bool) -> Vec<String> {
        let path = |name: &str| self.path(name).to_str().expect("a UTF-8 path").to_owned();
        vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            path("server.pem"),
            "--tls-key-file".into(),
            path("server.key"),
            "--tls-ca-cert-file".into(),
            path("ca.pem"),
            "--tls-auth-clients".into(),
            if auth_clients { "yes" } else { "no" }.into(),
        ]
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `redis-server` with a plain port (for the tests' `redis-cli`) and a TLS port.
pub struct TlsServer {
    pub server: RedisServer,
    pub tls_port: u16,
}

impl TlsServer {
    /// Starts one with `ca`'s server certificate; `auth_clients`: clients must present a
    /// certificate that `ca` signed.
    pub fn start(ca: &TestCa, auth_clients: bool) -> Self {
        let tls_port = super::redis_server::free_port(false);
        let args = ca.server_args(tls_port, auth_clients);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self {
            server: RedisServer::start_with_args(&args),
            tls_port,
        }
    }

    /// `rediss://127.0.0.1:<tls port>`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port)
    }
}

/// A Redis Cluster of three masters whose client ports and bus speak TLS (`tls-cluster yes`);
/// each node also has a plain port for the tests' `redis-cli`.
pub struct TlsCluster {
    pub nodes: Vec<TlsServer>,
}

impl TlsCluster {
    /// Starts three nodes with `ca`'s certificates and joins them.
    pub fn start(ca: &TestCa) -> Self {
        use std::{process::Command, thread::sleep, time::Duration, time::Instant};

        let nodes: Vec<TlsServer> = (0..3)
            .map(|_| {
                let tls_port = super::redis_server::free_port(false);
                let bus_port = super::redis_server::free_port(false);
                let mut args = ca.server_args(tls_port, false);
                args.extend(
                    [
                        "--tls-cluster",
                        "yes",
                        "--tls-replication",
                        "yes",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        "5000",
                        "--cluster-port",
                    ]
                    .map(str::to_owned),
                );
                args.push(bus_port.to_string());
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                TlsServer {
                    server: RedisServer::start_with_args(&args),
                    tls_port,
                }
            })
            .collect();
        let path = |name: &str| ca.path(name).to_str().expect("a UTF-8 path").to_owned();
        let mut args: Vec<String> = ["--tls", "--cacert"].map(str::to_owned).to_vec();
        args.push(path("ca.pem"));
        args.extend(["--cluster", "create"].map(str::to_owned));
        args.extend(nodes.iter().map(|n| format!("127.0.0.1:{}", n.tls_port)));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(str::to_owned));
        let output = Command::new("redis-cli")
            .args(&args)
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create over TLS failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &nodes {
            while !node
                .server
                .cli(&["cluster", "info"])
                .contains("cluster_state:ok")
            {
                assert!(
                    Instant::now() < deadline,
                    "the TLS cluster did not become ok"
                );
                sleep(Duration::from_millis(50));
            }
        }
        Self { nodes }
    }

    /// The `rediss://` URL of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(TlsServer::url).collect()
    }
}
