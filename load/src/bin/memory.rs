//! Bytes per session held by `MemoryStore`, against the JSON size of the session's data:
//! `memory [OUT.json]`.
//!
//! A counting global allocator ([`cap`]) reports the bytes the process holds; the store is filled
//! with 100,000, then (in a fresh store) 1,000,000 and 10,000,000 sessions of a three-field
//! struct, each saved as a new session with a one-hour cookie and a 32-character id, as the
//! middleware saves them (`max_sessions` raised to the count, so that none is evicted).
//! The figure per session is the growth of allocated bytes divided by the number of sessions: it
//! includes the id, the record, the index and the spare capacity of its growth, but not the
//! allocator's own overhead; the growth of the resident set size is reported beside it for that.

use std::{alloc::System, fs, time::Duration};

use actix_typed_session::{
    store::{SaveOutcome, SaveRequest, SessionStore},
    MemoryStore, Record, SessionCookie, SessionData,
};
use cap::Cap;
use serde::{Deserialize, Serialize};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// The session data: three fields.
#[derive(SessionData, Default)]
#[session(rename_all = "camelCase")]
struct Visit {
    user_id: u64,
    name: String,
    visits: u64,
}

#[derive(Serialize, Deserialize)]
struct Measurement {
    sessions: usize,
    /// The data's JSON, `{"userId":…,"name":…,"visits":…}`.
    data_json_bytes: usize,
    /// The whole stored record's JSON (express-session's, with the cookie).
    record_json_bytes: usize,
    id_bytes: usize,
    allocated_bytes_per_session: f64,
    rss_bytes_per_session: f64,
    /// The growth of the resident set size, in all.
    rss_bytes: usize,
    /// The target: 2 × the data's JSON + 200 bytes.
    target_bytes_per_session: usize,
    /// Where the allocated bytes go, per session.
    breakdown: Breakdown,
    /// The slowest single save while the store grew (CPU time of the saving thread), in
    /// microseconds, and how many sessions the store held before it: the pause that every other
    /// request waits out behind the store's lock.
    slowest_save_us: f64,
    slowest_save_at: usize,
}

/// One session's allocated bytes by part.
#[derive(Serialize, Deserialize)]
struct Breakdown {
    /// The session's own allocation (id, cookie, fields), measured as the growth of one save into
    /// a store with room for it.
    record: usize,
    /// The rest: the store's index (slot, hash table, expiry heap) and its spare capacity.
    index: f64,
}

/// The CPU time this thread has used: unlike wall time, it leaves out the time the thread waited
/// for a core while other processes ran.
fn thread_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The resident set size of this process, from `/proc/self/statm`.
fn rss_bytes() -> usize {
    let statm = fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn visit(i: usize) -> Visit {
    Visit {
        user_id: 1_000_000 + i as u64,
        name: "Ada Lovelace".to_owned(),
        visits: 42,
    }
}

/// A session id of the default generator's length (32 characters).
fn id(i: usize) -> String {
    format!("{i:032x}")
}

fn measure(sessions: usize) -> Measurement {
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(Duration::from_secs(3600)));
    let mut sample = Record::new(cookie.clone());
    sample.set_data(&visit(0)).expect("encodes");
    let data_json_bytes = serde_json::to_string(&serde_json::json!({
        "userId": 1_000_000u64, "name": "Ada Lovelace", "visits": 42
    }))
    .expect("encodes")
    .len();
    let record_json_bytes = sample.to_json().len();
    drop(sample);
    let record = record_allocation(&cookie);

    let store = MemoryStore::builder().max_sessions(sessions).build();
    actix_web::rt::System::new().block_on(async {
        let before = ALLOCATOR.allocated();
        let rss_before = rss_bytes();
        let (mut slowest, mut slowest_at) = (Duration::ZERO, 0);
        for i in 0..sessions {
            let mut record = Record::new(cookie.clone());
            record.set_data(&visit(i)).expect("encodes");
            let id = id(i);
            let started = thread_cpu_time();
            let outcome = store
                .save(&id, SaveRequest::Create(&record))
                .await
                .expect("the memory store does not fail");
            let took = thread_cpu_time().saturating_sub(started);
            if took > slowest {
                (slowest, slowest_at) = (took, i);
            }
            assert_eq!(outcome, SaveOutcome::Saved);
        }
        assert_eq!(store.len().await.expect("len"), sessions);
        let allocated = ALLOCATOR.allocated() - before;
        let rss = rss_bytes().saturating_sub(rss_before);
        store.clear().await.expect("clear");
        let per_session = allocated as f64 / sessions as f64;
        Measurement {
            breakdown: Breakdown {
                record,
                index: per_session - record as f64,
            },
            sessions,
            data_json_bytes,
            record_json_bytes,
            id_bytes: id(0).len(),
            allocated_bytes_per_session: per_session,
            rss_bytes_per_session: rss as f64 / sessions as f64,
            rss_bytes: rss,
            target_bytes_per_session: 2 * data_json_bytes + 200,
            slowest_save_us: slowest.as_secs_f64() * 1e6,
            slowest_save_at: slowest_at,
        }
    })
}

/// [`measure`] in a new process of this program.
fn measure_in_child(sessions: usize) -> Measurement {
    let out = std::env::temp_dir().join(format!("memory-{}-{sessions}.json", std::process::id()));
    let status = std::process::Command::new(std::env::current_exe().expect("this program"))
        .arg(&out)
        .env("MEMORY_SESSIONS", sessions.to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("runs the measurement");
    assert!(
        status.success(),
        "the measurement of {sessions} sessions failed"
    );
    let json = fs::read_to_string(&out).expect("the measurement's results");
    let _ = fs::remove_file(&out);
    let mut results: Vec<Measurement> = serde_json::from_str(&json).expect("its results");
    results.pop().expect("one measurement")
}

/// The bytes one more session allocates in a store whose index has room for it: the session's
/// own allocation.
fn record_allocation(cookie: &SessionCookie) -> usize {
    let store = MemoryStore::new();
    actix_web::rt::System::new().block_on(async {
        let mut grown = Vec::new();
        // The first saves make the store's tables; of the later ones, most fit.
        for i in 0..2_000 {
            let mut record = Record::new(cookie.clone());
            record.set_data(&visit(i)).expect("encodes");
            let id = id(i);
            let before = ALLOCATOR.allocated();
            store
                .save(&id, SaveRequest::Create(&record))
                .await
                .expect("the memory store does not fail");
            grown.push(ALLOCATOR.allocated() - before);
        }
        grown.into_iter().skip(1_000).min().unwrap_or(0)
    })
}

fn main() {
    // Each size is measured in a process of its own (`MEMORY_SESSIONS=N`), so that no memory that
    // an earlier measurement freed is in the allocator's lists: a large allocation makes glibc
    // merge all the small free chunks it holds, a pause of its own that no server sees at start.
    let results: Vec<Measurement> = match std::env::var("MEMORY_SESSIONS") {
        Ok(n) => vec![measure(
            n.trim().parse().expect("MEMORY_SESSIONS: a number"),
        )],
        Err(_) => [100_000, 1_000_000, 10_000_000]
            .into_iter()
            .map(measure_in_child)
            .collect(),
    };
    for m in &results {
        println!(
            "{:>9} sessions: {:.0} B allocated, {:.0} B resident per session; data JSON {} B, \
             record JSON {} B, target <= {} B",
            m.sessions,
            m.allocated_bytes_per_session,
            m.rss_bytes_per_session,
            m.data_json_bytes,
            m.record_json_bytes,
            m.target_bytes_per_session
        );
        let b = &m.breakdown;
        println!(
            "           record (id, cookie, fields) {} B, index {:.0} B; resident in all {:.2} GiB",
            b.record,
            b.index,
            m.rss_bytes as f64 / f64::from(1 << 30)
        );
        println!(
            "           slowest save {:.0} us, with {} sessions stored",
            m.slowest_save_us, m.slowest_save_at
        );
    }
    if let Some(path) = std::env::args().nth(1) {
        let json = serde_json::to_string_pretty(&results).expect("encodes");
        fs::write(&path, json + "\n").expect("writes the results");
    }
}
