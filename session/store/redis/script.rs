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
static SAVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(include_str!("json.lua"), include_str!("save.lua"))));

/// Extends a stored session's life, with a given cookie or by renewing the stored one.
static TOUCH: LazyLock<Script> =
    LazyLock::new(|| Script::new(concat!(include_str!("json.lua"), include_str!("touch.lua"))));

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

/// `save.lua` on `key`: 1 when written, 0 when the session is gone.
pub(super) fn save(
    key: &str,
    ttl_ms: i64,
    cookie: &SessionCookie,
    changes: &ChangeSet,
) -> ScriptInvocation<'static> {
    let mut invocation = SAVE.key(key);
    invocation.arg(ttl_ms).arg(cookie_json(cookie));
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

/// `touch.lua` replacing the cookie: the cookie JSON, or nil when the session is not stored.
pub(super) fn touch_with(
    key: &str,
    ttl_ms: i64,
    cookie: &SessionCookie,
) -> ScriptInvocation<'static> {
    let mut invocation = TOUCH.key(key);
    invocation.arg("set").arg(ttl_ms).arg(cookie_json(cookie));
    invocation
}

/// `touch.lua` renewing the stored cookie at `now_ms`: the renewed cookie JSON, or nil when the
/// session is not stored.
pub(super) fn renew(key: &str, now_ms: i64, default_ttl_ms: i64) -> ScriptInvocation<'static> {
    let mut invocation = TOUCH.key(key);
    invocation.arg("renew").arg(now_ms).arg(default_ttl_ms);
    invocation
}

/// `touch.lua` renewing the stored cookie at `now_ms` and answering the record as it was before:
/// the stored JSON and its PTTL, or nil when the session is not stored.
pub(super) fn load_renew(key: &str, now_ms: i64, default_ttl_ms: i64) -> ScriptInvocation<'static> {
    let mut invocation = TOUCH.key(key);
    invocation.arg("load").arg(now_ms).arg(default_ttl_ms);
    invocation
}
