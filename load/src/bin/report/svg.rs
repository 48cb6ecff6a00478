//! `load/benchmarks.svg`: requests per second as horizontal bars, one group per workload.

use std::fmt::Write;

use crate::{
    data::{Results, SERVERS, WORKLOADS},
    markdown::{latency, thousands},
};

const WIDTH: f64 = 960.0;
const LABEL_WIDTH: f64 = 270.0;
const VALUE_WIDTH: f64 = 230.0;
const BAR_HEIGHT: f64 = 18.0;
const BAR_GAP: f64 = 6.0;
const GROUP_TITLE: f64 = 30.0;
const GROUP_GAP: f64 = 16.0;
const TOP: f64 = 44.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(crate) fn render(r: &Results) -> String {
    let max = r
        .runs
        .values()
        .map(|run| run.per_second())
        .fold(1.0, f64::max);
    let scale = (WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20.0) / max;
    let group_height = GROUP_TITLE + SERVERS.len() as f64 * (BAR_HEIGHT + BAR_GAP);
    let height = TOP + WORKLOADS.len() as f64 * (group_height + GROUP_GAP) + 10.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>
<text x="10" y="24" font-size="16" font-weight="bold">Requests per second (one worker on one core; wrk -c{}; higher is better)</text>"##,
        escape(r.meta("connections"))
    );
    let mut y = TOP;
    for w in WORKLOADS {
        let _ = writeln!(
            svg,
            r#"<text x="10" y="{:.0}" font-weight="bold">{}</text>"#,
            y + 18.0,
            escape(w.label)
        );
        y += GROUP_TITLE;
        for s in SERVERS {
            let _ = writeln!(
                svg,
                r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
                LABEL_WIDTH - 8.0,
                y + 13.0,
                escape(s.label)
            );
            match r.run(s.id, w.id) {
                Some(run) => {
                    let len = (run.per_second() * scale).max(1.0);
                    let errors = match run.errors() {
                        0 => String::new(),
                        n => format!(", {n} errors"),
                    };
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{LABEL_WIDTH}" y="{y:.0}" width="{len:.1}" height="{BAR_HEIGHT}" fill="{}"/>
<text x="{:.1}" y="{:.0}">{} req/s · p99 {}{}</text>"#,
                        s.colour,
                        LABEL_WIDTH + len + 6.0,
                        y + 13.0,
                        thousands(run.per_second()),
                        escape(&latency(run.latency_us.p99)),
                        errors,
                    );
                }
                None => {
                    let _ = writeln!(
                        svg,
                        r##"<text x="{LABEL_WIDTH}" y="{:.0}" fill="#888">not run</text>"##,
                        y + 13.0
                    );
                }
            }
            y += BAR_HEIGHT + BAR_GAP;
        }
        y += GROUP_GAP;
    }
    svg.push_str("</svg>\n");
    svg
}
