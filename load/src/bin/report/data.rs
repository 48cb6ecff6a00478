//! What a run of `scripts/bench` left in its results folder, and the versions it ran with.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use serde::Deserialize;

/// One server of the comparison.
pub(crate) struct Server {
    pub(crate) id: &'static str,
    pub(crate) label: &'static str,
    /// Bar colour in the chart.
    pub(crate) colour: &'static str,
}

pub(crate) const SERVERS: &[Server] = &[
    Server {
        id: "bare",
        label: "actix-web, no sessions (ceiling)",
        colour: "#9e9e9e",
    },
    Server {
        id: "typed-memory",
        label: "actix-typed-session, MemoryStore",
        colour: "#2e7d32",
    },
    Server {
        id: "typed-redis",
        label: "actix-typed-session, RedisStore",
        colour: "#66bb6a",
    },
    Server {
        id: "typed-redis-touch-after",
        label: "actix-typed-session, RedisStore, touch_after(60 s)",
        colour: "#1b5e20",
    },
    Server {
        id: "typed-pg",
        label: "actix-typed-session, PgStore",
        colour: "#00897b",
    },
    Server {
        id: "actix-cookie",
        label: "actix-session, CookieSessionStore",
        colour: "#1565c0",
    },
    Server {
        id: "actix-redis",
        label: "actix-session, RedisSessionStore",
        colour: "#64b5f6",
    },
    Server {
        id: "typed-redis-shared",
        label: "actix-typed-session, RedisStore, Redis on the server's core",
        colour: "#a5d6a7",
    },
    Server {
        id: "typed-redis-touch-after-shared",
        label: "actix-typed-session, RedisStore, touch_after(60 s), Redis on the server's core",
        colour: "#4caf50",
    },
    Server {
        id: "actix-redis-shared",
        label: "actix-session, RedisSessionStore, Redis on the server's core",
        colour: "#90caf9",
    },
    Server {
        id: "typed-pg-shared",
        label: "actix-typed-session, PgStore, PostgreSQL on the server's core",
        colour: "#80cbc4",
    },
    Server {
        id: "express",
        label: "express, no sessions",
        colour: "#bdbdbd",
    },
    Server {
        id: "express-memory",
        label: "express-session, MemoryStore",
        colour: "#ef6c00",
    },
    Server {
        id: "express-redis",
        label: "express-session, connect-redis",
        colour: "#ffb74d",
    },
    Server {
        id: "express-redis-shared",
        label: "express-session, connect-redis, Redis on the server's core",
        colour: "#ffe0b2",
    },
    Server {
        id: "express-pg",
        label: "express-session, connect-pg-simple",
        colour: "#8d6e63",
    },
    Server {
        id: "express-pg-shared",
        label: "express-session, connect-pg-simple, PostgreSQL on the server's core",
        colour: "#d7ccc8",
    },
];

/// Whether server `id` keeps its sessions in PostgreSQL.
pub(crate) fn on_postgres(id: &str) -> bool {
    id.ends_with("-pg") || id.ends_with("-pg-shared")
}

/// Whether server `id` keeps its sessions in Redis.
pub(crate) fn on_redis(id: &str) -> bool {
    id.contains("redis")
}

/// One workload: a route and what it does.
pub(crate) struct Workload {
    pub(crate) id: &'static str,
    pub(crate) label: &'static str,
}

pub(crate) const WORKLOADS: &[Workload] = &[
    Workload {
        id: "new",
        label: "new visitor",
        // No cookie; the handler sets three fields: a new session stored and its cookie sent.
    },
    Workload {
        id: "read",
        label: "read-only visit (touch)",
    },
    Workload {
        id: "incr",
        label: "increment one field",
    },
];

/// wrk's summary of one run, as `load/wrk/report.lua` writes it.
#[derive(Deserialize, Clone)]
pub(crate) struct Run {
    pub(crate) requests: u64,
    pub(crate) duration_us: u64,
    pub(crate) errors: Errors,
    pub(crate) latency_us: Latency,
    /// CPU used during the run, from `SERVER__WORKLOAD.cpu.json` (written by `scripts/bench`).
    #[serde(skip)]
    pub(crate) cpu: Option<Cpu>,
    /// Redis commands run during the run (`INFO commandstats`), for the Redis variants.
    #[serde(skip)]
    pub(crate) redis_commands: Vec<RedisCommand>,
    /// PostgreSQL statements run during the run (`pg_stat_statements`), for the PostgreSQL
    /// variants.
    #[serde(skip)]
    pub(crate) pg_statements: Vec<PgStatement>,
    /// How many rounds' runs this one pools (see [`Run::pool`]).
    #[serde(skip, default = "one")]
    pub(crate) rounds: u32,
}

fn one() -> u32 {
    1
}

/// Adds `more` to `into`: an entry that `same` pairs with one of `into` is added to it by `add`,
/// any other appended.
fn add_up<T>(
    into: &mut Vec<T>,
    more: Vec<T>,
    same: impl Fn(&T, &T) -> bool,
    add: impl Fn(&mut T, T),
) {
    for entry in more {
        match into.iter_mut().find(|e| same(e, &entry)) {
            Some(e) => add(e, entry),
            None => into.push(entry),
        }
    }
}

/// One statement of `pg_stat_statements`.
#[derive(Clone)]
pub(crate) struct PgStatement {
    pub(crate) calls: u64,
    /// Microseconds spent executing it, all calls together.
    pub(crate) usec: u64,
    /// Its text, whitespace collapsed, constants as `$n`.
    pub(crate) query: String,
}

/// Parses the `calls<TAB>microseconds<TAB>query` lines that `scripts/bench` writes.
fn pg_statements(path: &Path) -> Vec<PgStatement> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            let calls = parts.next()?.parse().ok()?;
            let usec = parts.next()?.parse().ok()?;
            let query = parts.next()?.trim().to_owned();
            Some(PgStatement { calls, usec, query })
        })
        .filter(|s| !s.query.starts_with("TRUNCATE"))
        .collect()
}

/// One line of Redis's `INFO commandstats`.
#[derive(Clone)]
pub(crate) struct RedisCommand {
    pub(crate) name: String,
    pub(crate) calls: u64,
    /// Microseconds spent in the command, all calls together.
    pub(crate) usec: u64,
}

/// Parses `cmdstat_evalsha:calls=153176,usec=1365386,usec_per_call=8.91,…` lines.
fn redis_commands(path: &Path) -> Vec<RedisCommand> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (name, stats) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let stat = |key: &str| {
                stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|v| v.parse().ok())
            };
            Some(RedisCommand {
                name: name.to_owned(),
                calls: stat("calls")?,
                usec: stat("usec")?,
            })
        })
        .filter(|c| !matches!(c.name.as_str(), "config|resetstat" | "info" | "flushall"))
        .collect()
}

/// Clock ticks of CPU time (user + system, all threads) spent during a run.
#[derive(Deserialize, Clone)]
pub(crate) struct Cpu {
    server_ticks: u64,
    redis_ticks: u64,
    /// PostgreSQL's (postmaster, backends, background processes); absent in older results.
    #[serde(default)]
    pg_ticks: Option<u64>,
    /// wrk's own CPU time.
    #[serde(default)]
    wrk_ticks: Option<u64>,
    /// Busy time of the whole machine (all cores).
    #[serde(default)]
    machine_ticks: Option<u64>,
    #[serde(default)]
    cores: Option<u64>,
    ticks_per_second: u64,
}

impl Cpu {
    /// The ticks of two runs together.
    fn add(self, other: &Cpu) -> Cpu {
        let sum = |a: Option<u64>, b: Option<u64>| Some(a? + b?);
        Cpu {
            server_ticks: self.server_ticks + other.server_ticks,
            redis_ticks: self.redis_ticks + other.redis_ticks,
            pg_ticks: sum(self.pg_ticks, other.pg_ticks),
            wrk_ticks: sum(self.wrk_ticks, other.wrk_ticks),
            machine_ticks: sum(self.machine_ticks, other.machine_ticks),
            cores: self.cores,
            ticks_per_second: self.ticks_per_second,
        }
    }
}

#[derive(Deserialize, Clone)]
pub(crate) struct Errors {
    connect: u64,
    read: u64,
    write: u64,
    status: u64,
    timeout: u64,
}

#[derive(Deserialize, Clone)]
pub(crate) struct Latency {
    pub(crate) p50: u64,
    pub(crate) p99: u64,
}

impl Run {
    /// This run and `other` (the same server and workload in another round) as one: requests,
    /// time, errors, CPU ticks, Redis commands and PostgreSQL statements added up; the median
    /// latency is the mean of the rounds' medians, the 99th percentile the highest of theirs.
    fn pool(mut self, other: Run) -> Run {
        let rounds = self.rounds as f64;
        self.latency_us.p50 = ((self.latency_us.p50 as f64 * rounds + other.latency_us.p50 as f64)
            / (rounds + 1.0))
            .round() as u64;
        self.latency_us.p99 = self.latency_us.p99.max(other.latency_us.p99);
        self.rounds += 1;
        self.requests += other.requests;
        self.duration_us += other.duration_us;
        self.errors.connect += other.errors.connect;
        self.errors.read += other.errors.read;
        self.errors.write += other.errors.write;
        self.errors.status += other.errors.status;
        self.errors.timeout += other.errors.timeout;
        self.cpu = match (self.cpu, other.cpu) {
            (Some(a), Some(b)) => Some(a.add(&b)),
            _ => None,
        };
        add_up(
            &mut self.redis_commands,
            other.redis_commands,
            |a, b| a.name == b.name,
            |a, b| (a.calls, a.usec) = (a.calls + b.calls, a.usec + b.usec),
        );
        add_up(
            &mut self.pg_statements,
            other.pg_statements,
            |a, b| a.query == b.query,
            |a, b| (a.calls, a.usec) = (a.calls + b.calls, a.usec + b.usec),
        );
        self
    }

    pub(crate) fn per_second(&self) -> f64 {
        self.requests as f64 / (self.duration_us as f64 / 1e6)
    }

    fn cpu_us(&self, ticks: impl Fn(&Cpu) -> u64) -> Option<f64> {
        let cpu = self.cpu.as_ref()?;
        Some(ticks(cpu) as f64 * 1e6 / cpu.ticks_per_second as f64)
    }

    /// Server CPU time per request, in microseconds.
    pub(crate) fn server_us_per_request(&self) -> Option<f64> {
        Some(self.cpu_us(|c| c.server_ticks)? / self.requests as f64)
    }

    /// Redis CPU time per request, in microseconds.
    pub(crate) fn redis_us_per_request(&self) -> Option<f64> {
        Some(self.cpu_us(|c| c.redis_ticks)? / self.requests as f64)
    }

    /// PostgreSQL CPU time per request, in microseconds.
    pub(crate) fn pg_us_per_request(&self) -> Option<f64> {
        Some(self.cpu_us(|c| c.pg_ticks.unwrap_or(0))? / self.requests as f64)
    }

    /// The CPU time per request of the store that server `id` uses (Redis or PostgreSQL), in
    /// microseconds; `None` for a server without one.
    pub(crate) fn store_us_per_request(&self, id: &str) -> Option<f64> {
        if on_postgres(id) {
            self.pg_us_per_request()
        } else if on_redis(id) {
            self.redis_us_per_request()
        } else {
            None
        }
    }

    /// How busy the server's core was: its CPU time over the run's duration.
    pub(crate) fn server_busy(&self) -> Option<f64> {
        Some(self.cpu_us(|c| c.server_ticks)? / self.duration_us as f64)
    }

    /// The share of the machine's CPU (all cores) that other work than the server, Redis,
    /// PostgreSQL and wrk took during the run.
    pub(crate) fn other_load(&self) -> Option<f64> {
        let cpu = self.cpu.as_ref()?;
        let ours = cpu.server_ticks + cpu.redis_ticks + cpu.pg_ticks.unwrap_or(0) + cpu.wrk_ticks?;
        let others = cpu.machine_ticks?.saturating_sub(ours) as f64;
        let available =
            cpu.cores? as f64 * cpu.ticks_per_second as f64 * self.duration_us as f64 / 1e6;
        Some(others / available)
    }

    /// Socket errors, timeouts and responses other than 2xx/3xx.
    pub(crate) fn errors(&self) -> u64 {
        let e = &self.errors;
        e.connect + e.read + e.write + e.status + e.timeout
    }
}

/// `memory.json`, written by the `memory` binary.
#[derive(Deserialize)]
pub(crate) struct Memory {
    pub(crate) sessions: usize,
    pub(crate) data_json_bytes: usize,
    pub(crate) record_json_bytes: usize,
    pub(crate) id_bytes: usize,
    pub(crate) allocated_bytes_per_session: f64,
    pub(crate) rss_bytes_per_session: f64,
    /// The growth of the resident set size, in all.
    pub(crate) rss_bytes: usize,
    pub(crate) target_bytes_per_session: usize,
    pub(crate) breakdown: Breakdown,
    /// The slowest single save while the store grew (the saving thread's CPU time), in µs.
    #[serde(default)]
    pub(crate) slowest_save_us: f64,
}

#[derive(Deserialize)]
pub(crate) struct Breakdown {
    /// The session's own allocation: id, cookie and fields.
    pub(crate) record: usize,
    /// The store's index (slot, hash table, expiry heap) and spare capacity.
    pub(crate) index: f64,
}

/// Everything the report is made of.
pub(crate) struct Results {
    /// `meta.json`: date, machine, load, tool versions (strings set by `scripts/bench`).
    pub(crate) meta: BTreeMap<String, String>,
    /// wrk runs by (server id, workload id), the rounds pooled.
    pub(crate) runs: BTreeMap<(String, String), Run>,
    /// Each round's runs on their own, in the order they ran.
    pub(crate) rounds: Vec<BTreeMap<(String, String), Run>>,
    pub(crate) memory: Vec<Memory>,
    /// Criterion medians in nanoseconds, by `group/name`.
    pub(crate) criterion: BTreeMap<String, f64>,
    /// Versions of the crates the servers were built with.
    pub(crate) crates: BTreeMap<String, Vec<String>>,
    /// Versions of the npm packages.
    pub(crate) npm: BTreeMap<String, String>,
}

impl Results {
    pub(crate) fn run(&self, server: &str, workload: &str) -> Option<&Run> {
        self.runs.get(&(server.to_owned(), workload.to_owned()))
    }

    pub(crate) fn meta(&self, key: &str) -> &str {
        self.meta.get(key).map_or("unknown", String::as_str)
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = fs::read_to_string(path).ok()?;
    match serde_json::from_str(&text) {
        Ok(value) => Some(value),
        Err(e) => {
            eprintln!("report: {} is not valid: {e}", path.display());
            None
        }
    }
}

/// The versions of `names` in a `Cargo.lock` (a crate may be there in several versions).
fn crate_versions(lock: &Path, names: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let text = fs::read_to_string(lock).unwrap_or_default();
    let mut name: Option<&str> = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"'));
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            if names.contains(&n) {
                found
                    .entry(n.to_owned())
                    .or_default()
                    .push(v.trim_matches('"').to_owned());
            }
        }
    }
    found
}

/// The installed versions of `names`, from an npm `package-lock.json`.
fn npm_versions(lock: &Path, names: &[&str]) -> BTreeMap<String, String> {
    let lock: serde_json::Value = read_json(lock).unwrap_or_default();
    names
        .iter()
        .filter_map(|name| {
            let version = lock["packages"][format!("node_modules/{name}")]["version"].as_str()?;
            Some(((*name).to_owned(), version.to_owned()))
        })
        .collect()
}

/// Criterion's median estimate for each benchmark under `dir` (`group/name/new/estimates.json`).
fn criterion_medians(dir: &Path) -> BTreeMap<String, f64> {
    let mut medians = BTreeMap::new();
    let Ok(groups) = fs::read_dir(dir) else {
        return medians;
    };
    for group in groups.flatten() {
        let Ok(benches) = fs::read_dir(group.path()) else {
            continue;
        };
        for bench in benches.flatten() {
            let estimates = bench.path().join("new/estimates.json");
            let Some(value) = read_json::<serde_json::Value>(&estimates) else {
                continue;
            };
            if let Some(ns) = value["median"]["point_estimate"].as_f64() {
                let key = format!(
                    "{}/{}",
                    group.file_name().to_string_lossy(),
                    bench.file_name().to_string_lossy()
                );
                medians.insert(key, ns);
            }
        }
    }
    medians
}

/// The folders of the rounds that `scripts/bench` ran (`wrk/rep1`, `wrk/rep2`, …, in order), or
/// `wrk` itself for results written before there were rounds.
fn round_dirs(wrk: &Path) -> Vec<PathBuf> {
    let rounds: Vec<PathBuf> = (1..)
        .map(|n| wrk.join(format!("rep{n}")))
        .take_while(|dir| dir.is_dir())
        .collect();
    if rounds.is_empty() {
        vec![wrk.to_owned()]
    } else {
        rounds
    }
}

/// Reads a results folder, the load package's lock files and the criterion folder.
pub(crate) fn load(results: &Path, load_dir: &Path, criterion: &Path) -> Results {
    let meta = read_json(&results.join("meta.json")).unwrap_or_default();
    let mut runs = BTreeMap::new();
    let rounds = round_dirs(&results.join("wrk"));
    let mut each_round: Vec<BTreeMap<(String, String), Run>> =
        rounds.iter().map(|_| BTreeMap::new()).collect();
    let read = |dir: &Path, server: &str, workload: &str| {
        let path = dir.join(format!("{server}__{workload}.json"));
        let mut run = read_json::<Run>(&path)?;
        run.cpu = read_json(&path.with_extension("cpu.json"));
        run.redis_commands = redis_commands(&path.with_extension("redis.txt"));
        run.pg_statements = pg_statements(&path.with_extension("pg.txt"));
        Some(run)
    };
    for server in SERVERS {
        for workload in WORKLOADS {
            let key = (server.id.to_owned(), workload.id.to_owned());
            for (dir, round) in rounds.iter().zip(&mut each_round) {
                if let Some(run) = read(dir, server.id, workload.id) {
                    round.insert(key.clone(), run);
                }
            }
            let pooled = each_round
                .iter()
                .filter_map(|round| round.get(&key).cloned())
                .reduce(Run::pool);
            if let Some(run) = pooled {
                runs.insert(key, run);
            }
        }
    }
    Results {
        meta,
        runs,
        rounds: each_round,
        memory: read_json(&results.join("memory.json")).unwrap_or_default(),
        criterion: criterion_medians(criterion),
        crates: crate_versions(
            &load_dir.join("Cargo.lock"),
            &[
                "actix-typed-session",
                "actix-web",
                "actix-session",
                "redis",
                "tokio",
                "tokio-postgres",
            ],
        ),
        npm: npm_versions(
            &load_dir.join("node/package-lock.json"),
            &[
                "express",
                "express-session",
                "connect-redis",
                "redis",
                "connect-pg-simple",
                "pg",
            ],
        ),
    }
}
