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
use serde::Serialize;

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

#[derive(Serialize)]
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
}

/// One session's allocated bytes by part.
#[derive(Serialize)]
struct Breakdown {
    /// The session's own allocation (id, cookie, fields), measured as the growth of one save into
    /// a store with room for it.
    record: usize,
    /// The rest: the store's index (slot, hash table, expiry heap) and its spare capacity.
    index: f64,
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
        for i in 0..sessions {
            let mut record = Record::new(cookie.clone());
            record.set_data(&visit(i)).expect("encodes");
            let outcome = store
                .save(&id(i), SaveRequest::Create(&record))
                .await
                .expect("the memory store does not fail");
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
        }
    })
}

/// The bytes one more session allocates in a store whose index has room for it: the session's
/// own allocation.
fn record_allocation(cookie: &SessionCookie) -> usize {
    let store = MemoryStore::new();
    actix_web::rt::System::new().block_on(async {
        let mut grown = Vec::new();
        for i in 0..6 {
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
        // The first saves grow the index; the later ones fit.
        grown.into_iter().min().unwrap_or(0)
    })
}

fn main() {
    let results: Vec<Measurement> = [100_000, 1_000_000, 10_000_000]
        .into_iter()
        .map(measure)
        .collect();
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
    }
    if let Some(path) = std::env::args().nth(1) {
        let json = serde_json::to_string_pretty(&results).expect("encodes");
        fs::write(&path, json + "\n").expect("writes the results");
    }
}
