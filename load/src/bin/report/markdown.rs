//! BENCHMARKS.md: the tables, the targets and how the numbers were made.

use std::{collections::BTreeMap, fmt::Write};

use crate::{
    data::{Results, Run, SERVERS, WORKLOADS},
    postgres,
};

/// `1234567.8` as `1,234,568`.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in microseconds, as `264 µs` or `1.34 ms`.
pub(crate) fn latency(us: u64) -> String {
    if us < 1000 {
        format!("{us} µs")
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

pub(crate) fn ratio(a: Option<&Run>, b: Option<&Run>) -> Option<f64> {
    Some(a?.per_second() / b?.per_second())
}

/// CPU time per request of a run: the server's, plus its store's (Redis or PostgreSQL).
fn cpu_cost(server: &str, run: &Run) -> Option<f64> {
    let own = run.server_us_per_request()?;
    Some(own + run.store_us_per_request(server).unwrap_or(0.0))
}

/// How many times less CPU per request `a` took than `b` (the throughput ratio a CPU-bound server
/// would reach).
pub(crate) fn cpu_ratio(r: &Results, a: &str, b: &str, workload: &str) -> Option<f64> {
    Some(cpu_cost(b, r.run(b, workload)?)? / cpu_cost(a, r.run(a, workload)?)?)
}

pub(crate) fn show_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"))
}

/// One target: a ratio of two runs against a threshold.
struct Target {
    what: String,
    measured: Option<f64>,
    /// The same ratio in each round on its own.
    rounds: Vec<Option<f64>>,
    /// The same comparison by CPU time per request.
    by_cpu: Option<f64>,
    at_least: f64,
}

/// The run of `server` on `workload` in one round.
fn round_run<'a>(
    round: &'a BTreeMap<(String, String), Run>,
    server: &str,
    workload: &str,
) -> Option<&'a Run> {
    round.get(&(server.to_owned(), workload.to_owned()))
}

fn target(r: &Results, what: String, ours: &str, theirs: &str, w: &str, at_least: f64) -> Target {
    Target {
        what,
        measured: ratio(r.run(ours, w), r.run(theirs, w)),
        rounds: r
            .rounds
            .iter()
            .map(|round| ratio(round_run(round, ours, w), round_run(round, theirs, w)))
            .collect(),
        by_cpu: cpu_ratio(r, ours, theirs, w),
        at_least,
    }
}

/// Redis CPU per request of `theirs` over `ours` (at least 1: ours costs Redis no more).
fn redis_cpu_ratio(ours: Option<&Run>, theirs: Option<&Run>) -> Option<f64> {
    Some(theirs?.redis_us_per_request()? / ours?.redis_us_per_request()?)
}

fn workload_label(id: &str) -> &'static str {
    WORKLOADS
        .iter()
        .find(|w| w.id == id)
        .map_or("?", |w| w.label)
}

fn targets(r: &Results) -> Vec<Target> {
    let mut list = vec![target(
        r,
        "read-only visit, MemoryStore vs bare actix-web".to_owned(),
        "typed-memory",
        "bare",
        "read",
        0.9,
    )];
    for (w, at_least) in [("read", 1.3), ("new", 1.1), ("incr", 1.2)] {
        list.push(target(
            r,
            format!(
                "{}, MemoryStore vs actix-session CookieSessionStore",
                workload_label(w)
            ),
            "typed-memory",
            "actix-cookie",
            w,
            at_least,
        ));
    }
    for (suffix, layout) in [
        ("", "Redis apart"),
        ("-shared", "Redis on the server's core"),
    ] {
        let ours = format!("typed-redis{suffix}");
        let theirs = format!("actix-redis{suffix}");
        for (w, at_least) in [("read", 2.0), ("incr", 1.3)] {
            list.push(target(
                r,
                format!(
                    "{}, RedisStore vs actix-session RedisSessionStore ({layout})",
                    workload_label(w)
                ),
                &ours,
                &theirs,
                w,
                at_least,
            ));
        }
        list.push(target(
            r,
            format!(
                "{}, RedisStore with touch_after(60 s) vs actix-session RedisSessionStore \
                 ({layout})",
                workload_label("read")
            ),
            &format!("typed-redis-touch-after{suffix}"),
            &theirs,
            "read",
            2.0,
        ));
    }
    for (suffix, layout) in [
        ("", "Redis apart"),
        ("-shared", "Redis on the server's core"),
    ] {
        let (ours, theirs) = (
            format!("typed-redis{suffix}"),
            format!("actix-redis{suffix}"),
        );
        for w in WORKLOADS {
            list.push(Target {
                what: format!(
                    "Redis CPU per request, {}: actix-session RedisSessionStore's over ours \
                     ({layout})",
                    w.label
                ),
                measured: redis_cpu_ratio(r.run(&ours, w.id), r.run(&theirs, w.id)),
                rounds: r
                    .rounds
                    .iter()
                    .map(|round| {
                        redis_cpu_ratio(
                            round_run(round, &ours, w.id),
                            round_run(round, &theirs, w.id),
                        )
                    })
                    .collect(),
                by_cpu: None,
                at_least: 1.0,
            });
        }
    }
    for (ours, theirs, store) in [
        ("typed-memory", "express-memory", "MemoryStore"),
        ("typed-redis", "express-redis", "Redis, apart"),
        (
            "typed-redis-shared",
            "express-redis-shared",
            "Redis on the server's core",
        ),
    ] {
        for w in WORKLOADS {
            list.push(target(
                r,
                format!("{}, {store}: vs express-session", w.label),
                ours,
                theirs,
                w.id,
                20.0,
            ));
        }
    }
    list
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn header(out: &mut String, r: &Results, chart: &str) {
    let m = |k| r.meta(k);
    let _ = writeln!(
        out,
        "# Benchmarks\n\n\
         Written by `scripts/bench` (do not edit by hand): it builds everything with `--release`, \
         runs every server under every workload and rewrites this page and \
         [`{chart}`]({chart}).\n\n\
         - **Date:** {}\n\
         - **Machine:** {} cores, {}, Linux {}\n\
         - **Load before the run:** load average {} ({} of the CPU busy over 5 s); \
         **after:** load average {}\n\
         - **Commit:** {}\n\
         - **Rust:** {}; **Node:** {}; **Redis:** {}; **PostgreSQL:** {}; **wrk:** {}",
        m("date"),
        m("nproc"),
        m("cpu"),
        m("kernel"),
        m("load_before"),
        m("busy_before"),
        m("load_after"),
        m("commit"),
        m("rustc"),
        m("node"),
        m("redis"),
        m("postgres"),
        m("wrk"),
    );
    let others: Vec<f64> = r.runs.values().filter_map(Run::other_load).collect();
    if !others.is_empty() {
        let mean = others.iter().sum::<f64>() / others.len() as f64;
        let max = others.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "- **Other work on the machine during the runs:** {:.0}% of its CPU on average, {:.0}% \
             at most (per run in the tables below)",
            mean * 100.0,
            max * 100.0
        );
    }
    let crates: Vec<String> = r
        .crates
        .iter()
        .map(|(name, versions)| format!("{name} {}", versions.join(" and ")))
        .collect();
    let npm: Vec<String> = r.npm.iter().map(|(n, v)| format!("{n} {v}")).collect();
    let _ = writeln!(
        out,
        "- **Crates:** {}\n- **npm packages:** {}\n",
        crates.join(", "),
        npm.join(", ")
    );
}

fn throughput(out: &mut String, r: &Results, chart: &str) {
    let _ = writeln!(
        out,
        "## Throughput and latency\n\n\
         ![Requests per second by workload and server]({chart})\n"
    );
    for w in WORKLOADS {
        let _ = writeln!(
            out,
            "### {}\n\n\
             | server | requests/s | p50 | p99 | vs bare actix-web | server CPU per request \
             | server core busy | store CPU per request (Redis or PostgreSQL) \
             | other work on the machine | errors |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            w.label
        );
        for s in SERVERS {
            let Some(run) = r.run(s.id, w.id) else {
                let _ = writeln!(out, "| {} | not run | | | | | | | | |", s.label);
                continue;
            };
            let micros =
                |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1} µs"));
            let store = micros(run.store_us_per_request(s.id));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.label,
                thousands(run.per_second()),
                latency(run.latency_us.p50),
                latency(run.latency_us.p99),
                show_ratio(ratio(Some(run), r.run("bare", w.id))),
                micros(run.server_us_per_request()),
                run.server_busy()
                    .map_or_else(|| "–".to_owned(), |b| format!("{:.0}%", b * 100.0)),
                store,
                run.other_load()
                    .map_or_else(|| "–".to_owned(), |l| format!("{:.0}%", l * 100.0)),
                match run.errors() {
                    0 => "0".to_owned(),
                    n => format!("**{n}**"),
                },
            );
        }
        out.push('\n');
    }
}

fn ratios(out: &mut String, r: &Results) {
    let peers = [
        ("bare", "bare actix-web"),
        ("actix-cookie", "actix-session cookie"),
        ("actix-redis", "actix-session Redis"),
        ("express-memory", "express-session memory"),
        ("express-redis", "express-session Redis"),
        ("express-pg", "express-session PostgreSQL"),
    ];
    let _ = write!(
        out,
        "## Ratios\n\nThroughput of this crate divided by the other's, same workload.\n\n\
         | this crate | workload |"
    );
    for (_, label) in peers {
        let _ = write!(out, " vs {label} |");
    }
    out.push_str("\n|---|---|");
    for _ in peers {
        out.push_str("---:|");
    }
    out.push('\n');
    for (ours, label) in [
        ("typed-memory", "MemoryStore"),
        ("typed-redis", "RedisStore"),
        ("typed-pg", "PgStore"),
    ] {
        for w in WORKLOADS {
            let _ = write!(out, "| {label} | {} |", w.label);
            for (peer, _) in peers {
                let _ = write!(
                    out,
                    " {} |",
                    show_ratio(ratio(r.run(ours, w.id), r.run(peer, w.id)))
                );
            }
            out.push('\n');
        }
    }
    out.push('\n');
}

fn target_table(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "## Targets\n\n\
         Verdicts are on throughput (requests/s), as the targets are stated. Beside it, the same \
         comparison by CPU time per request (server, plus Redis for the Redis variants): the \
         throughput ratio that CPU-bound servers on dedicated cores would reach, and much less \
         disturbed by the machine's other work. The verdict is on the rounds pooled; \
         each round's own ratio shows how far the machine's drift moved it.\n\n\
         | target | measured (requests/s) | each round | by CPU per request | wanted | verdict |\n\
         |---|---:|---:|---:|---:|---|"
    );
    for t in targets(r) {
        let rounds: Vec<String> = t.rounds.iter().map(|&r| show_ratio(r)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | ≥ {:.1}× | {} |",
            t.what,
            show_ratio(t.measured),
            rounds.join(" / "),
            show_ratio(t.by_cpu),
            t.at_least,
            verdict(t.measured.map(|m| m >= t.at_least)),
        );
    }
    for m in &r.memory {
        let _ = writeln!(
            out,
            "| MemoryStore memory per session at {} sessions | {:.0} B | | | ≤ {} B | {} |",
            thousands(m.sessions as f64),
            m.allocated_bytes_per_session,
            m.target_bytes_per_session,
            verdict(Some(
                m.allocated_bytes_per_session <= m.target_bytes_per_session as f64
            )),
        );
        if m.sessions >= TEN_MILLION {
            let _ = writeln!(
                out,
                "| MemoryStore resident memory at {} sessions | {:.2} GiB | | | < 4 GiB | {} |",
                thousands(m.sessions as f64),
                m.rss_bytes as f64 / f64::from(1 << 30),
                verdict(Some(m.rss_bytes < 4 << 30)),
            );
        }
    }
    out.push('\n');
}

/// The number of sessions whose resident memory has a target of its own (under 4 GiB).
const TEN_MILLION: usize = 10_000_000;

fn redis_commands(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "## Redis commands per request\n\n\
         From Redis's `INFO commandstats` over each measured run (reset before it): how many \
         times each command ran per request, and the microseconds Redis spent in one call. A \
         command that a Lua script calls is listed on its own too, and its time is also inside \
         the script's (`EVALSHA`). Redis's whole CPU time per request, network included, is in \
         the tables above.\n\n\
         | server | workload | commands per request (µs per call) |\n\
         |---|---|---|"
    );
    for s in SERVERS.iter().filter(|s| s.id.contains("redis")) {
        for w in WORKLOADS {
            let Some(run) = r.run(s.id, w.id) else {
                continue;
            };
            if run.redis_commands.is_empty() {
                continue;
            }
            let requests = run.requests.max(1) as f64;
            let mut commands: Vec<_> = run.redis_commands.iter().collect();
            commands.sort_by_key(|c| std::cmp::Reverse(c.usec));
            let list: Vec<String> = commands
                .iter()
                .filter(|c| c.calls as f64 / requests >= 0.005)
                .map(|c| {
                    format!(
                        "`{}` ×{:.2} ({:.2})",
                        c.name.to_uppercase(),
                        c.calls as f64 / requests,
                        c.usec as f64 / c.calls.max(1) as f64
                    )
                })
                .collect();
            let _ = writeln!(out, "| {} | {} | {} |", s.label, w.label, list.join(", "));
        }
    }
    out.push('\n');
}

fn in_process(out: &mut String, r: &Results) {
    if r.criterion.is_empty() {
        return;
    }
    let c = |k: &str| r.criterion.get(k).copied();
    let ns = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.0} ns"));
    let _ = writeln!(
        out,
        "## In-process cost (criterion)\n\n\
         `cargo bench` (`benches/`), medians. One request built, run through \
         `actix_web::test::call_service` and checked, without sockets or HTTP parsing: the cost \
         that the session layer adds on top of actix-web's own routing and handler.\n\n\
         | request | bare actix-web | with sessions (MemoryStore) | added by sessions |\n\
         |---|---:|---:|---:|"
    );
    for (label, bare, session) in [
        (
            "new visitor",
            "request/bare_new",
            "request/session_new_visitor",
        ),
        (
            "read-only visit (touch)",
            "request/bare_read",
            "request/session_read_only",
        ),
        (
            "modify one field",
            "request/bare_incr",
            "request/session_modify_one_field",
        ),
    ] {
        let (b, s) = (c(bare), c(session));
        let added = b.zip(s).map(|(b, s)| s - b);
        let _ = writeln!(out, "| {label} | {} | {} | {} |", ns(b), ns(s), ns(added));
    }
    let _ = writeln!(
        out,
        "\n| operation | median |\n|---|---:|\n\
         | `#[derive(SessionData)]` decode, 10 fields | {} |\n\
         | per-field check, 10 fields, none changed | {} |\n\
         | per-field check, 10 fields, one changed | {} |\n\
         | encode one `u32` field to raw JSON | {} |\n\
         | cookie sign (`SessionCodec::cookie_value`) | {} |\n\
         | cookie verify (`SessionCodec::id_from_cookie_header`) | {} |\n\
         | cookie verify, tampered signature | {} |\n",
        ns(c("derive_10_fields/decode")),
        ns(c("derive_10_fields/diff_none_changed")),
        ns(c("derive_10_fields/diff_one_changed")),
        ns(c("derive_10_fields/encode_one_u32")),
        ns(c("cookie/sign")),
        ns(c("cookie/verify")),
        ns(c("cookie/verify_tampered")),
    );
}

fn memory(out: &mut String, r: &Results) {
    let Some(first) = r.memory.first() else {
        return;
    };
    let _ = writeln!(
        out,
        "## Memory per session (MemoryStore)\n\n\
         `load/src/bin/memory.rs`: a counting global allocator (`cap`) measures the bytes held \
         after saving N new sessions of a three-field struct \
         (`{{\"userId\":1000000,\"name\":\"Ada Lovelace\",\"visits\":42}}`, {} bytes of JSON; the \
         whole stored record with its cookie is {} bytes of JSON), each with a one-hour cookie \
         and a {}-character id. Allocated bytes leave out the allocator's own overhead; the \
         growth of the resident set size is shown beside them for that (`max_sessions` is \
         raised to the number of sessions). Target: at most 2 × the data's JSON + 200 B = {} B \
         allocated, and 10,000,000 sessions in under 4 GiB resident. *Slowest save*: the most \
         CPU time one save took while the store grew to that size (each size measured in a \
         process of its own), the pause that every other request waits out behind the store's \
         lock.\n\n\
         | sessions | allocated per session | resident per session | resident in all | target | verdict | slowest save |\n\
         |---:|---:|---:|---:|---:|---|---:|",
        first.data_json_bytes,
        first.record_json_bytes,
        first.id_bytes,
        first.target_bytes_per_session,
    );
    for m in &r.memory {
        let _ = writeln!(
            out,
            "| {} | {:.0} B | {:.0} B | {:.2} GiB | {} B | {} | {} |",
            thousands(m.sessions as f64),
            m.allocated_bytes_per_session,
            m.rss_bytes_per_session,
            m.rss_bytes as f64 / f64::from(1 << 30),
            m.target_bytes_per_session,
            verdict(Some(
                m.allocated_bytes_per_session <= m.target_bytes_per_session as f64
                    && (m.sessions < TEN_MILLION || m.rss_bytes < 4 << 30)
            )),
            latency(m.slowest_save_us.round() as u64),
        );
    }
    let _ = writeln!(
        out,
        "\nWhere the allocated bytes go, per session:\n\n\
         | sessions | the session's one allocation (id, cookie, fields) | index (slot, hash table, \
         expiry heap, spare capacity) |\n\
         |---:|---:|---:|"
    );
    for m in &r.memory {
        let b = &m.breakdown;
        let _ = writeln!(
            out,
            "| {} | {} B | {:.0} B |",
            thousands(m.sessions as f64),
            b.record,
            b.index
        );
    }
    out.push('\n');
}

fn method(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "## How the numbers are made\n\n\
         - **Servers** (`load/`, a package of its own so that the peers never enter the library's \
         dependency tree): `load/src/bin/server` (actix-web 4: bare, this crate on `MemoryStore`, \
         `RedisStore` and `PgStore`, actix-session on `CookieSessionStore` and `RedisSessionStore`) \
         and `load/node/server.js` (express 5: bare, express-session on its `MemoryStore`, on \
         connect-redis and on connect-pg-simple). Each serves the same three routes on 127.0.0.1 with one worker \
         (`HttpServer::workers(1)`; Node is single-threaded), pinned to core 0 with `taskset -c 0`.\n\
         - **Load:** `taskset -c 1 wrk -t1 -c{conns} -d{dur}s --latency` after a {warm} s warm-up, \
         each server restarted for each workload and Redis and the PostgreSQL table emptied \
         (`FLUSHALL`, `TRUNCATE`). {rounds} The session \
         cookie for the visits that bring one comes from one `GET /new` made first, so all \
         connections share one session.\n\
         - **CPU per request:** the server process's CPU time (user + system, all threads, from \
         `/proc/PID/stat`) during the measured run, divided by the requests; likewise for \
         redis-server, and for PostgreSQL (the postmaster, its backends, one per connection, \
         and its background processes, those that ended included). *Server core busy* is that \
         CPU time over the run's duration: well under 100% means the server waited (for its \
         store, for wrk, or for the machine's other work), not that it had spare capacity for \
         free. *Other work on the machine* is the machine's busy time (`/proc/stat`, all cores) \
         less the server's, the store's and wrk's, as a share of all cores over the run: the \
         disturbance from processes that are not part of the benchmark.\n\
         - **Workloads:** *new visitor* — no cookie; the handler sets three fields \
         (`userId`, `name`, `visits`), so every request creates, stores and sends a new session. \
         *Read-only visit (touch)* — the handler reads `visits`; the session's lifetime is \
         renewed in the store. *Increment one field* — the handler adds one to `visits`. \
         `/read` and `/incr` answer 409 when the session is missing, so a cookie that stopped \
         working shows as errors in the tables, never as speed.\n\
         - **Session settings,** as close to each other as the libraries go: one-hour cookies, \
         not rolling. This crate with its defaults (`resave(false)`, \
         `save_uninitialized(false)`: a read-only visit touches the store, a modifying one \
         writes the changed field and sends the cookie). express-session with `resave: false, \
         saveUninitialized: false, cookie.maxAge` one hour (a read-only visit calls the store's \
         `touch`). actix-session with `PersistentSession` of one hour and \
         `TtlExtensionPolicy::OnEveryRequest` (its closest to touch: on Redis an `EXPIRE` per \
         request, and a `Set-Cookie` on every response), on both of its stores; its Redis \
         store is created once in `main` as its documentation shows.\n\
         - **Redis:** `redis-server --save \"\" --appendonly no` (or the server program in \
         `BENCH_REDIS_SERVER`: the version above says which) on a free port, started by the \
         script.\n\
         - **PostgreSQL:** a fresh cluster (`initdb`) started by the script, without durability \
         as Redis runs without persistence (`fsync`, `synchronous_commit` and \
         `full_page_writes` off), `TimeZone` UTC, with `pg_stat_statements`; the same server \
         and settings for `PgStore` and connect-pg-simple, on connect-pg-simple's table \
         `session` created from its own `table.sql`. `PgStore` keeps one connection per worker \
         (one here); connect-pg-simple its default `pg` pool (up to 10 connections).\n\n\
         ### Limitations\n\n\
         - The machine has {nproc} cores. Core 0 runs the server under test, core 1 runs wrk \
         **and** the store (redis-server or PostgreSQL) in the \"apart\" layout, so the load \
         generator and the store compete for one core: absolute numbers of the Redis and \
         PostgreSQL variants are lower than on a machine with a core for each, and the \
         comparison holds only between variants on the same store, which share that \
         handicap.\n\
         - The machine is shared with other work (builds, tests); the load measured before the \
         run is given above. Numbers move by several percent from run to run, and by up to 10% \
         between runs of one server minutes apart, which the rounds spread over every server.\n\
         - One session for all connections: the stores are measured on a hot key, not on a \
         large working set (see the memory section for size).\n\
         - actix-session's `CookieSessionStore` keeps the state in the cookie: with wrk's fixed \
         cookie, *increment* decrypts, increments and re-encrypts the same state on every \
         request, without the count ever growing.\n\
         - The in-process numbers come from criterion on the same machine, pinned to core 0.\n",
        conns = r.meta("connections"),
        dur = r.meta("duration"),
        rounds = match r.meta("reps").parse::<u32>() {
            Ok(n) if n > 1 => format!(
                "Every run is made {n} times, in {n} rounds one after the other (each round runs \
                 every server and workload once, so that the machine's speed drifting over the \
                 minutes of the whole run touches every server alike; within a round, layout by \
                 layout and workload by workload, so that the servers compared on a workload run \
                 seconds apart); the tables pool them: \
                 requests, time and CPU added up, the median latency the mean of the rounds' \
                 medians, the 99th percentile the highest of theirs."
            ),
            _ => "Every run is made once.".to_owned(),
        },
        warm = r.meta("warmup"),
        nproc = r.meta("nproc"),
    );
}

/// The whole page, which links to its chart at `chart` (relative to the page).
pub(crate) fn render(r: &Results, chart: &str) -> String {
    let mut out = String::new();
    header(&mut out, r, chart);
    target_table(&mut out, r);
    throughput(&mut out, r, chart);
    ratios(&mut out, r);
    redis_commands(&mut out, r);
    postgres::section(&mut out, r);
    in_process(&mut out, r);
    memory(&mut out, r);
    method(&mut out, r);
    out
}
