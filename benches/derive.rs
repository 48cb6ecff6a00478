//! The derive's per-request work on a 10-field struct: decoding the loaded fields, and the
//! per-field modification check that runs when a handler took `&mut` access (one field changed,
//! or none).

use std::hint::black_box;

use actix_typed_session::{
    __private::{ChangeSet, Fields},
    SessionData,
};
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::value::RawValue;

#[derive(SessionData, Clone, Default)]
#[session(rename_all = "camelCase")]
struct Profile {
    user_id: u64,
    name: String,
    email: String,
    visits: u32,
    admin: bool,
    theme: String,
    locale: String,
    cart: Vec<u32>,
    last_page: Option<String>,
    score: f64,
}

fn sample() -> Profile {
    Profile {
        user_id: 7,
        name: "Ada Lovelace".to_owned(),
        email: "ada@example.com".to_owned(),
        visits: 41,
        admin: true,
        theme: "dark".to_owned(),
        locale: "en-GB".to_owned(),
        cart: vec![3, 14, 15],
        last_page: Some("/cart".to_owned()),
        score: 0.5,
    }
}

/// The fields of a stored session holding `value`.
fn stored(value: &Profile) -> Fields {
    let mut fields = Fields::default();
    let mut changes = ChangeSet::new();
    value.__diff(&fields, &mut changes).expect("encodes");
    fields.apply(&changes);
    assert_eq!(fields.len(), 10, "every field is stored");
    fields
}

fn derive(c: &mut Criterion) {
    let original = sample();
    let fields = stored(&original);
    let mut changed = original.clone();
    changed.visits += 1;

    let mut group = c.benchmark_group("derive_10_fields");
    group.bench_function("decode", |b| {
        b.iter(|| Profile::__decode(black_box(&fields)).expect("decodes"))
    });
    group.bench_function("diff_none_changed", |b| {
        b.iter(|| {
            let mut changes = ChangeSet::new();
            black_box(&original)
                .__diff(black_box(&fields), &mut changes)
                .expect("encodes");
            assert!(changes.is_empty());
            changes
        })
    });
    group.bench_function("diff_one_changed", |b| {
        b.iter(|| {
            let mut changes = ChangeSet::new();
            black_box(&changed)
                .__diff(black_box(&fields), &mut changes)
                .expect("encodes");
            assert_eq!(changes.len(), 1);
            changes
        })
    });
    // The floor under any per-field check: encoding one u32 field to raw JSON.
    group.bench_function("encode_one_u32", |b| {
        b.iter(|| {
            let raw: Box<RawValue> =
                serde_json::value::to_raw_value(black_box(&changed.visits)).expect("encodes");
            raw
        })
    });
    group.finish();
}

criterion_group!(benches, derive);
criterion_main!(benches);
