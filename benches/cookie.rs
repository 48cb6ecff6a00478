//! Signing a session id into express-session's cookie value, and verifying one from a `Cookie`
//! header (HMAC-SHA256 via ring, percent-encoding, base64).

use std::hint::black_box;

use actix_typed_session::SessionCodec;
use criterion::{criterion_group, criterion_main, Criterion};

/// A session id as the default generator makes them: 24 random bytes, base64url.
const ID: &str = "Y2hhcmxpZS1icm93bi1jaGFybGllLWJy";

fn cookie(c: &mut Criterion) {
    let codec = SessionCodec::new("connect.sid", "keyboard cat");
    let value = codec.cookie_value(ID);
    let header = format!("theme=dark; connect.sid={value}; _ga=GA1.2.3.4");
    let tampered = header.replacen("connect.sid=s%3AY", "connect.sid=s%3AZ", 1);
    assert_eq!(
        codec.id_from_cookie_header(header.as_bytes()).as_deref(),
        Some(ID)
    );
    assert_eq!(codec.id_from_cookie_header(tampered.as_bytes()), None);

    let mut group = c.benchmark_group("cookie");
    group.bench_function("sign", |b| b.iter(|| codec.cookie_value(black_box(ID))));
    group.bench_function("verify", |b| {
        b.iter(|| codec.id_from_cookie_header(black_box(header.as_bytes())))
    });
    group.bench_function("verify_tampered", |b| {
        b.iter(|| codec.id_from_cookie_header(black_box(tampered.as_bytes())))
    });
    group.finish();
}

criterion_group!(benches, cookie);
criterion_main!(benches);
