//! BENCHMARKS.md's PgStore section: this crate on PostgreSQL against express-session on
//! connect-pg-simple (same server, same table) and against this crate's RedisStore, in both
//! layouts, and the statements each runs per request.

use std::fmt::Write;

use crate::{
    data::{on_postgres, Results, SERVERS, WORKLOADS},
    markdown::{cpu_ratio, ratio, show_ratio, thousands},
};

/// The two layouts: the id suffix and its name.
const LAYOUTS: [(&str, &str); 2] = [
    ("", "PostgreSQL apart"),
    ("-shared", "PostgreSQL on the server's core"),
];

/// The smallest and the largest of `values`, if there is any.
fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn comparison(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "## PgStore\n\n\
         `PgStore` (this crate on PostgreSQL, in connect-pg-simple's table) against express-session \
         on connect-pg-simple (the same table on the same server) and against this crate's \
         `RedisStore` (Redis in the same layout). Throughput ratios (requests/s), and beside them \
         the same comparison by CPU time per request (the server's plus its store's).\n\n\
         | workload | layout | PgStore requests/s | vs connect-pg-simple | by CPU | PostgreSQL CPU \
         per request, PgStore / connect-pg-simple | vs RedisStore | by CPU |\n\
         |---|---|---:|---:|---:|---:|---:|---:|"
    );
    for w in WORKLOADS {
        for (suffix, layout) in LAYOUTS {
            let ours = format!("typed-pg{suffix}");
            let node = format!("express-pg{suffix}");
            let redis = format!("typed-redis{suffix}");
            let Some(run) = r.run(&ours, w.id) else {
                continue;
            };
            let pg_cpu = |id: &str| r.run(id, w.id).and_then(|run| run.pg_us_per_request());
            let pg_cpu = match (pg_cpu(&ours), pg_cpu(&node)) {
                (Some(a), Some(b)) => format!("{a:.1} µs / {b:.1} µs"),
                (Some(a), None) => format!("{a:.1} µs / –"),
                _ => "–".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {layout} | {} | {} | {} | {pg_cpu} | {} | {} |",
                w.label,
                thousands(run.per_second()),
                show_ratio(ratio(Some(run), r.run(&node, w.id))),
                show_ratio(cpu_ratio(r, &ours, &node, w.id)),
                show_ratio(ratio(Some(run), r.run(&redis, w.id))),
                show_ratio(cpu_ratio(r, &ours, &redis, w.id)),
            );
        }
    }
    out.push('\n');
    for (suffix, layout) in LAYOUTS {
        let ours = format!("typed-pg{suffix}");
        let of = |peer: &str| {
            let peer = format!("{peer}{suffix}");
            range(
                WORKLOADS
                    .iter()
                    .filter_map(|w| ratio(r.run(&ours, w.id), r.run(&peer, w.id))),
            )
        };
        if let (Some((node_lo, node_hi)), Some((redis_lo, redis_hi))) =
            (of("express-pg"), of("typed-redis"))
        {
            let _ = writeln!(
                out,
                "- **{layout}:** PgStore serves {node_lo:.1}× to {node_hi:.1}× the requests/s of \
                 connect-pg-simple (at least {node_lo:.1}× in every workload), and \
                 {redis_lo:.2}× to {redis_hi:.2}× those of RedisStore."
            );
        }
    }
    out.push('\n');
}

/// `query` shortened for a table cell: whitespace collapsed, at most 60 characters.
fn short(query: &str) -> String {
    let query = query.replace('|', "\\|");
    match query.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &query[..at]),
        None => query,
    }
}

fn statements(out: &mut String, r: &Results) {
    let _ = writeln!(
        out,
        "### PostgreSQL statements per request\n\n\
         From `pg_stat_statements` over each measured run (reset before it): how many times each \
         statement ran per request, and the microseconds PostgreSQL spent executing one call \
         (parsing, network and the rest of its CPU time are in the store CPU above).\n\n\
         | server | workload | statements per request (µs per call) |\n\
         |---|---|---|"
    );
    for s in SERVERS.iter().filter(|s| on_postgres(s.id)) {
        for w in WORKLOADS {
            let Some(run) = r.run(s.id, w.id) else {
                continue;
            };
            if run.pg_statements.is_empty() {
                continue;
            }
            let requests = run.requests.max(1) as f64;
            let list: Vec<String> = run
                .pg_statements
                .iter()
                .filter(|st| st.calls as f64 / requests >= 0.005)
                .map(|st| {
                    format!(
                        "`{}` ×{:.2} ({:.1})",
                        short(&st.query),
                        st.calls as f64 / requests,
                        st.usec as f64 / st.calls.max(1) as f64
                    )
                })
                .collect();
            let _ = writeln!(out, "| {} | {} | {} |", s.label, w.label, list.join("<br>"));
        }
    }
    out.push('\n');
}

/// The section, when a PgStore run is in the results.
pub(crate) fn section(out: &mut String, r: &Results) {
    if !r
        .runs
        .keys()
        .any(|(server, _)| server.starts_with("typed-pg"))
    {
        return;
    }
    comparison(out, r);
    statements(out, r);
}
