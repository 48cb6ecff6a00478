//! What indexing sessions by a field costs on `MemoryStore`: a session's create and destroy
//! without an index and with one (a login and a logout), listing one user's ten sessions,
//! and ending them.

use std::hint::black_box;

use actix_typed_session::{
    store::{IndexKey, SaveRequest, SessionStore},
    MemoryStore, Record, SessionCookie,
};
use actix_web::rt::System;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::value::RawValue;

/// A record of user `user` (of 100), with two more fields.
fn record(user: usize) -> Record {
    let mut cookie = SessionCookie::default();
    cookie.set_max_age(Some(std::time::Duration::from_secs(3600)));
    let mut record = Record::new(cookie);
    let value = |json: String| RawValue::from_string(json).unwrap();
    record
        .fields
        .set("user", value(format!("\"user-{}\"", user % 100)));
    record.fields.set("views", value("3".to_owned()));
    record.fields.set("theme", value("\"dark\"".to_owned()));
    record
}

fn index(c: &mut Criterion) {
    let rt = System::new();
    let mut group = c.benchmark_group("index");
    let records: Vec<Record> = (0..100).map(record).collect();
    for (name, store) in [
        ("create_and_destroy_without_index", MemoryStore::new()),
        (
            "create_and_destroy_with_index",
            MemoryStore::builder().index("user").build(),
        ),
    ] {
        // 1,000 other sessions of the 100 users, so that each user's entry holds ten.
        for n in 0..1000 {
            let id = format!("other-{n}");
            rt.block_on(store.save(&id, SaveRequest::Create(&records[n % 100])))
                .unwrap();
        }
        let mut n = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                let id = format!("session-{n}");
                rt.block_on(async {
                    let saved = store.save(&id, SaveRequest::Create(&records[n % 100]));
                    black_box(saved.await.unwrap());
                    store.destroy(&id).await.unwrap();
                });
            });
        });
    }
    let store = MemoryStore::builder().index("user").build();
    for n in 0..1000 {
        let id = format!("other-{n}");
        rt.block_on(store.save(&id, SaveRequest::Create(&records[n % 100])))
            .unwrap();
    }
    let key = IndexKey::new("user", "user-7").unwrap();
    group.bench_function("sessions_by_ten_sessions", |b| {
        b.iter(|| black_box(rt.block_on(store.sessions_by(&key)).unwrap().len()));
    });
    group.bench_function("count_by_ten_sessions", |b| {
        b.iter(|| black_box(rt.block_on(store.count_by(&key)).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, index);
criterion_main!(benches);
