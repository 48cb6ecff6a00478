//! A master, a replica and three sentinels watching it, on free ports, every one with a
//! password; optionally everything over TLS.
#![allow(dead_code, unreachable_pub)]

use std::{
    thread::sleep,
    time::{Duration, Instant},
};

use super::{redis_server::RedisServer, tls::TestCa};

/// The name the sentinels know the master by.
pub const MASTER_NAME: &str = "sessions";
/// The password of the master and the replica (`requirepass`, `masterauth`).
pub const MASTER_PASSWORD: &str = "master-secret";
/// The password of the sentinels.
pub const SENTINEL_PASSWORD: &str = "sentinel-secret";

const TIMEOUT: Duration = Duration::from_secs(30);

/// One Redis server of the setup: the process, and the port clients use (TLS or plain).
pub struct Node {
    pub server: RedisServer,
    pub port: u16,
}

/// The setup.
pub struct Sentinels {
    pub nodes: Vec<Node>,
    pub sentinels: Vec<Node>,
    tls: bool,
}

impl Sentinels {
    /// Starts a master, its replica and three sentinels, and waits until every sentinel knows
    /// the replica and the other sentinels (so that a failover can be asked for). With `ca`,
    /// every port clients use is TLS (replication and the sentinels' links too).
    pub fn start(ca: Option<&TestCa>) -> Self {
        let node = |replica_of: Option<u16>| {
            let port = super::redis_server::free_port(false);
            let mut args: Vec<String> = vec!["--masterauth".into(), MASTER_PASSWORD.into()];
            if let Some(ca) = ca {
                args.extend(ca.server_args(port, false));
                args.extend(["--tls-replication".into(), "yes".into()]);
            }
            if let Some(master) = replica_of {
                args.extend(["--replicaof".into(), "127.0.0.1".into(), master.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let server = RedisServer::start_with_password(&args, MASTER_PASSWORD);
            let port = if ca.is_some() { port } else { server.port() };
            Node { server, port }
        };
        let master = node(None);
        let replica = node(Some(master.port));
        let deadline = Instant::now() + TIMEOUT;
        while !replica
            .server
            .cli(&["info", "replication"])
            .contains("master_link_status:up")
        {
            assert!(Instant::now() < deadline, "the replica did not sync");
            sleep(Duration::from_millis(50));
        }
        let config = format!(
            "sentinel monitor {MASTER_NAME} 127.0.0.1 {port} 2\n\
             sentinel auth-pass {MASTER_NAME} {MASTER_PASSWORD}\n\
             sentinel down-after-milliseconds {MASTER_NAME} 2000\n\
             sentinel failover-timeout {MASTER_NAME} 10000\n\
             sentinel sentinel-pass {SENTINEL_PASSWORD}\n\
             requirepass {SENTINEL_PASSWORD}\n",
            port = master.port
        );
        let sentinels: Vec<Node> = (0..3)
            .map(|_| {
                let port = super::redis_server::free_port(false);
                let mut args: Vec<String> = Vec::new();
                if let Some(ca) = ca {
                    args.extend(ca.server_args(port, false));
                    args.extend(["--tls-replication".into(), "yes".into()]);
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let server = RedisServer::start_sentinel(&config, &args, Some(SENTINEL_PASSWORD));
                let port = if ca.is_some() { port } else { server.port() };
                Node { server, port }
            })
            .collect();
        let setup = Self {
            nodes: vec![master, replica],
            sentinels,
            tls: ca.is_some(),
        };
        setup.wait_until_ready();
        setup
    }

    /// Waits until every sentinel sees a healthy replica and the two other sentinels.
    fn wait_until_ready(&self) {
        let deadline = Instant::now() + TIMEOUT;
        for sentinel in &self.sentinels {
            loop {
                let replicas = sentinel.server.cli(&["sentinel", "replicas", MASTER_NAME]);
                let others = sentinel.server.cli(&["sentinel", "sentinels", MASTER_NAME]);
                let healthy = replicas.lines().any(|l| l.trim() == "slave")
                    && !replicas.contains("s_down")
                    && !replicas.contains("disconnected")
                    && others.matches("runid").count() == 2;
                if healthy {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the sentinels did not discover the replica and each other:\n{replicas}\n{others}"
                );
                sleep(Duration::from_millis(100));
            }
        }
    }

    /// The sentinels' URLs, with their password.
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.tls { "rediss" } else { "redis" };
        self.sentinels
            .iter()
            .map(|s| format!("{scheme}://:{SENTINEL_PASSWORD}@127.0.0.1:{}", s.port))
            .collect()
    }

    /// The port of the master, as the first sentinel names it.
    pub fn master_port(&self) -> u16 {
        let answer =
            self.sentinels[0]
                .server
                .cli(&["sentinel", "get-master-addr-by-name", MASTER_NAME]);
        answer
            .lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no master address in {answer:?}"))
    }

    /// The node that the sentinels name master now.
    pub fn master(&self) -> &Node {
        let port = self.master_port();
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .expect("the master is one of the nodes")
    }

    /// Asks the first sentinel for a failover (`SENTINEL FAILOVER`) and waits until every
    /// sentinel names the other node master, and the new master says it is one.
    pub fn failover(&self) -> u16 {
        let old = self.master_port();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let answer = self.sentinels[0]
                .server
                .cli(&["sentinel", "failover", MASTER_NAME]);
            if answer.trim() == "OK" {
                break;
            }
            // NOGOODSLAVE while the replica's last INFO is too old, INPROG while one runs.
            assert!(
                Instant::now() < deadline,
                "SENTINEL FAILOVER was refused: {answer}"
            );
            sleep(Duration::from_millis(100));
        }
        loop {
            let named: Vec<u16> = self
                .sentinels
                .iter()
                .map(|s| {
                    s.server
                        .cli(&["sentinel", "get-master-addr-by-name", MASTER_NAME])
                        .lines()
                        .nth(1)
                        .and_then(|p| p.trim().parse().ok())
                        .unwrap_or(0)
                })
                .collect();
            if named.iter().all(|&p| p != old && p == named[0]) {
                let new = self.master();
                if new.server.cli(&["role"]).starts_with("master") {
                    return named[0];
                }
            }
            assert!(
                Instant::now() < deadline,
                "the failover did not complete: the sentinels name {named:?}"
            );
            sleep(Duration::from_millis(20));
        }
    }
}
