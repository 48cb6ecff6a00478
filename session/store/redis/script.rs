//! The Lua scripts that read and write sessions in one atomic round trip, and their arguments.
//!
//! The writing scripts edit the stored JSON as text: they split the top-level object into raw members,
//! replace or remove the members that change and join them again, so every field the request did
//! not change keeps its exact bytes (see `json.lua`).

use std::sync::LazyLock;

use ::redis::{Script, ScriptInvocation};
use serde_json::value::RawValue;

use crate::record::{ChangeSet, SessionCookie};

/// Reads a session with its key's remaining lifetime.
static LOAD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("load.lua")));

/// Applies a change set and a new cookie to a stored session; never recreates one.
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("json.lua"),
        include_str!("shadow.lua"),
        include_str!("save.lua")
    ))
});

/// Writes a session merged by the caller if its key still holds the merge's base.
static CAS: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("cas.lua")));

/// Extends a stored session's life, with a given cookie or by renewing the stored one.
static TOUCH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("json.lua"),
        include_str!("shadow.lua"),
        include_str!("touch.lua")
    ))
});

/// A request's first read: answers the stored record and renews its key with `PEXPIRE` when the
/// record begins as express writes it, or falls through to the full `touch.lua` in 'load' mode.
static LOAD_TOUCHED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("load_touched.lua"),
        include_str!("json.lua"),
        include_str!("shadow.lua"),
        include_str!("touch.lua")
    ))
});

/// Creates a session with its shadow (session end events on).
static CREATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("create.lua")));

/// Deletes a session and claims its shadow (session end events on).
static END: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("end.lua")));

/// Claims the shadow of a session whose key is gone (session end events on).
static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("claim.lua")));

/// With session end events: the key of a session's shadow, and how many milliseconds longer
/// than the session it lives.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shadow<'a> {
    pub(super) key: &'a str,
    pub(super) grace_ms: i64,
}

/// The express JSON of a cookie object.
pub(super) fn cookie_json(cookie: &SessionCookie) -> String {
    let mut out = String::with_capacity(96);
    cookie.write_json(&mut out);
    out
}

/// `load.lua` on `key`: the stored JSON and the key's PTTL, or nil when the session is not stored.
pub(super) fn load(key: &str) -> ScriptInvocation<'static> {
    LOAD.key(key)
}

/// `save.lua` on `key`: 1 when written, 0 when the session is gone, `{'too_large', size}` when
/// the merged record would be over `max_bytes` (nothing written).
pub(super) fn save(
    key: &str,
    shadow: Option<Shadow<'_>>,
    ttl_ms: i64,
    cookie: &SessionCookie,
    changes: &ChangeSet,
    max_bytes: usize,
) -> ScriptInvocation<'static> {
    let mut invocation = SAVE.key(key);
    invocation.arg(ttl_ms).arg(cookie_json(cookie));
    match shadow {
        Some(shadow) => invocation.key(shadow.key).arg(shadow.grace_ms),
        None => invocation.arg(""),
    };
    invocation.arg(max_bytes);
    for (name, value) in changes.iter() {
        let encoded = serde_json::to_string(name).expect("a string always serializes");
        // An empty value (never valid JSON) removes the field.
        invocation
            .arg(name)
            .arg(encoded)
            .arg(value.map_or("", RawValue::get));
    }
    invocation
}

/// `cas.lua` on `key`: 1 when `merged` was written, 0 when the session is gone, the stored JSON
/// when it is not `base` (nothing written).
pub(super) fn cas(
    key: &str,
    shadow: Option<Shadow<'_>>,
    base: &[u8],
    merged: &str,
    ttl_ms: i64,
) -> ScriptInvocation<'static> {
    let mut invocation = CAS.key(key);
    invocation.arg(base).arg(merged).arg(ttl_ms);
    if let Some(shadow) = shadow {
        invocation.key(shadow.key).arg(shadow.grace_ms);
    }
    invocation
}

/// `touch.lua` replacing the cookie: the cookie JSON, or nil when the session is not stored.
pub(super) fn touch_with(
    key: &str,
    shadow: Option<Shadow<'_>>,
    ttl_ms: i64,
    cookie: &SessionCookie,
) -> ScriptInvocation<'static> {
    let mut invocation = TOUCH.key(key);
    invocation.arg("set").arg(ttl_ms).arg(cookie_json(cookie));
    with_shadow(&mut invocation, shadow);
    invocation
}

/// Adds the shadow's key and grace to a `touch.lua` invocation.
fn with_shadow(invocation: &mut ScriptInvocation<'static>, shadow: Option<Shadow<'_>>) {
    if let Some(shadow) = shadow {
        invocation.key(shadow.key).arg(shadow.grace_ms);
    }
}

/// `touch.lua` renewing the stored cookie at `now_ms`: the renewed cookie JSON, or nil when the
/// session is not stored.
pub(super) fn renew(
    key: &str,
    shadow: Option<Shadow<'_>>,
    now_ms: i64,
    default_ttl_ms: i64,
) -> ScriptInvocation<'static> {
    let mut invocation = TOUCH.key(key);
    invocation.arg("renew").arg(now_ms).arg(default_ttl_ms);
    with_shadow(&mut invocation, shadow);
    invocation
}

/// `load_touched.lua` (falling through to `touch.lua` in 'load' mode): renews the session's key
/// and answers the record as it was before: the stored JSON and its PTTL, or nil when the session
/// is not stored.
pub(super) fn load_renew(
    key: &str,
    shadow: Option<Shadow<'_>>,
    now_ms: i64,
    default_ttl_ms: i64,
) -> ScriptInvocation<'static> {
    let mut invocation = LOAD_TOUCHED.key(key);
    invocation.arg("load").arg(now_ms).arg(default_ttl_ms);
    with_shadow(&mut invocation, shadow);
    invocation
}

/// `create.lua`: 1 when created, 0 when the id is taken.
pub(super) fn create(
    key: &str,
    shadow: Shadow<'_>,
    json: &str,
    ttl_ms: i64,
) -> ScriptInvocation<'static> {
    let mut invocation = CREATE.key(key);
    invocation
        .key(shadow.key)
        .arg(json)
        .arg(ttl_ms)
        .arg(shadow.grace_ms);
    invocation
}

/// `end.lua`: `(1, record)` when the session was stored, `(0, shadow)` when only its shadow was
/// left, nil when neither.
pub(super) fn end(key: &str, shadow_key: &str) -> ScriptInvocation<'static> {
    let mut invocation = END.key(key);
    invocation.key(shadow_key);
    invocation
}

/// `claim.lua`: the shadow of a session whose key is gone, to the one caller that claims it.
pub(super) fn claim(key: &str, shadow_key: &str) -> ScriptInvocation<'static> {
    let mut invocation = CLAIM.key(key);
    invocation.key(shadow_key);
    invocation
}
