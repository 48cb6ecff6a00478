//! Writes BENCHMARKS.md and its chart from a `scripts/bench` results folder:
//! `report RESULTS_DIR CRITERION_DIR OUT.md OUT.svg`.
//!
//! The results folder holds `meta.json` (date, machine, versions), `wrk/SERVER__WORKLOAD.json`
//! (one wrk summary each, from `load/wrk/report.lua`; beside it the CPU times in `.cpu.json`, and
//! the Redis commands or PostgreSQL statements in `.redis.txt` or `.pg.txt`) and `memory.json`;
//! the criterion folder is the `target/criterion` of the main package. Hand-written notes in
//! the file named by `REPORT_NOTES` (by default `load/ANALYSIS.md`; none when it is empty), if
//! present, are appended to the page.

mod data;
mod markdown;
mod postgres;
mod svg;

use std::{fs, path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [results, criterion, md, chart] = args.as_slice() else {
        eprintln!("usage: report RESULTS_DIR CRITERION_DIR OUT.md OUT.svg");
        return ExitCode::from(2);
    };
    let load_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let results = data::load(results, &load_dir, criterion);
    // The chart's path as the page links to it: relative to the page's folder when it is in it.
    let link = md
        .parent()
        .and_then(|dir| chart.strip_prefix(dir).ok())
        .unwrap_or(chart);
    let mut page = markdown::render(&results, &link.to_string_lossy());
    let notes = std::env::var_os("REPORT_NOTES")
        .map_or_else(|| load_dir.join("ANALYSIS.md"), PathBuf::from);
    let notes = Some(notes)
        .filter(|path| !path.as_os_str().is_empty())
        .and_then(|path| fs::read_to_string(path).ok());
    if let Some(notes) = notes {
        page.push('\n');
        page.push_str(&notes);
    }
    if let Err(e) = fs::write(md, page).and_then(|()| fs::write(chart, svg::render(&results))) {
        eprintln!("report: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
