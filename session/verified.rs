//! A worker's cache of session cookies whose signature verified: a repeat visit skips the HMAC.
//!
//! Keyed by the whole cookie value as the browser sent it (signature included) and holding only
//! values that one of the middleware's secrets verified, so a hit is a value that the HMAC
//! accepted: a changed byte anywhere is another key, and is verified afresh. The cache belongs to
//! one middleware (one list of secrets) on one worker; it is never shared with other secrets.
//! Bounded: a fixed number of slots, each holding at most one value of bounded length.

use std::{
    cell::RefCell,
    hash::{BuildHasher, RandomState},
    rc::Rc,
};

use subtle::ConstantTimeEq;

use crate::cookie::{decode_raw, Secrets};

/// Slots per worker and middleware. A repeat visit hits unless another cookie verified since
/// then took its slot.
pub(crate) const SLOTS: usize = 512;

/// Longest raw cookie value kept (a default id gives 82 bytes: `s%3A`, 32 characters, `.`, 43
/// of signature with a few percent-escapes). Longer values (custom ids) are verified every time.
pub(crate) const MAX_CACHED_LEN: usize = 160;

/// How many bytes from the end of a value choose its slot.
const SLOT_KEY_LEN: usize = 16;

/// Whether `a` and `b` are the same bytes, in a time that depends on their lengths only: eight
/// bytes at a time, each word compared in constant time.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Whole words are loaded as they are; only the last, partial one is copied into a word.
    let word = |chunk: &[u8]| u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    let tail = |rest: &[u8]| {
        let mut bytes = [0u8; 8];
        bytes[..rest.len()].copy_from_slice(rest);
        u64::from_le_bytes(bytes)
    };
    let (a_words, b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut same = tail(a_words.remainder()).ct_eq(&tail(b_words.remainder()));
    for (x, y) in a_words.zip(b_words) {
        same &= word(x).ct_eq(&word(y));
    }
    same.into()
}

/// A session cookie whose signature verified.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct VerifiedCookie {
    /// The session id.
    pub(crate) id: String,
    /// The cookie value to send back for this id (signed with the first secret and encoded as
    /// express does), when the cookie was signed with the first secret: the value that signing
    /// the id again would give. `None` when an older secret signed it.
    pub(crate) current_value: Option<String>,
}

struct Slot {
    raw: Box<[u8]>,
    cookie: Rc<VerifiedCookie>,
}

/// Verified session cookies by their raw value (see the module documentation).
pub(crate) struct VerifiedCookies {
    hasher: RandomState,
    slots: RefCell<Box<[Option<Slot>]>>,
}

impl VerifiedCookies {
    pub(crate) fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            slots: RefCell::new((0..SLOTS).map(|_| None).collect()),
        }
    }

    /// The verified cookie of a raw cookie value (as [`find_raw_cookie`] answers it), from the
    /// cache or verified now with `secrets` (and then cached); `None` if the value does not
    /// verify.
    ///
    /// [`find_raw_cookie`]: crate::cookie::find_raw_cookie
    pub(crate) fn verify(&self, secrets: &Secrets, raw: &[u8]) -> Option<Rc<VerifiedCookie>> {
        let cacheable = raw.len() <= MAX_CACHED_LEN;
        let index = if cacheable {
            let index = self.slot(raw);
            if let Some(slot) = &self.slots.borrow()[index] {
                // The whole value, signature included: only the exact bytes verified before. In
                // constant time: how long a near miss takes tells nothing about the value held.
                if same_bytes(&slot.raw, raw) {
                    return Some(Rc::clone(&slot.cookie));
                }
            }
            Some(index)
        } else {
            None
        };
        let value = decode_raw(raw)?;
        let (id, by) = secrets.unsign_by(&value)?;
        let current_value = (by == 0).then(|| crate::cookie::encode_value(&value));
        let cookie = Rc::new(VerifiedCookie {
            id: id.to_owned(),
            current_value,
        });
        if let Some(index) = index {
            self.slots.borrow_mut()[index] = Some(Slot {
                raw: raw.into(),
                cookie: Rc::clone(&cookie),
            });
        }
        Some(cookie)
    }

    fn slot(&self, raw: &[u8]) -> usize {
        // Keyed per process: which cookies share a slot cannot be chosen from outside. The slot
        // only places a value (a hit compares the whole value), so the end of it is enough: the
        // signature's last characters, which differ from one session to the next.
        let tail = &raw[raw.len().saturating_sub(SLOT_KEY_LEN)..];
        (self.hasher.hash_one(tail) % SLOTS as u64) as usize
    }

    /// How many values the cache holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.borrow().iter().flatten().count()
    }

    /// Bytes held by the cached values (raw values and ids).
    #[cfg(test)]
    pub(crate) fn held_bytes(&self) -> usize {
        self.slots
            .borrow()
            .iter()
            .flatten()
            .map(|slot| {
                slot.raw.len()
                    + slot.cookie.id.len()
                    + slot.cookie.current_value.as_ref().map_or(0, String::len)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::encode_value;

    fn secrets(list: &[&str]) -> Secrets {
        Secrets::new(list).unwrap()
    }

    /// The raw cookie value the browser sends back for `id` signed with `secret`.
    fn raw(secret: &str, id: &str) -> String {
        secrets(&[secret]).sign_encoded(id)
    }

    /// What verifying without the cache answers: the id, if a secret verifies the value.
    fn uncached(secrets: &Secrets, raw: &[u8]) -> Option<String> {
        let value = decode_raw(raw)?;
        secrets.unsign(&value).map(str::to_owned)
    }

    #[test]
    fn same_bytes_compares_every_byte_and_the_length() {
        let value: Vec<u8> = (0u8..83).collect();
        assert!(same_bytes(&value, &value.clone()));
        assert!(same_bytes(b"", b""));
        for i in 0..value.len() {
            let mut other = value.clone();
            other[i] ^= 1;
            assert!(!same_bytes(&value, &other), "{i}");
            assert!(!same_bytes(&value, &value[..i]), "{i}");
        }
        assert!(!same_bytes(b"abc", b"abc\0"));
    }

    #[test]
    fn repeat_visit_is_answered_from_the_cache() {
        let keys = secrets(&["k"]);
        let cache = VerifiedCookies::new();
        let value = raw("k", "abc");
        let first = cache.verify(&keys, value.as_bytes()).unwrap();
        assert_eq!(first.id, "abc");
        assert_eq!(cache.len(), 1);
        let again = cache.verify(&keys, value.as_bytes()).unwrap();
        assert!(Rc::ptr_eq(&first, &again), "the cached entry");
    }

    #[test]
    fn no_tampered_value_is_accepted_after_the_valid_one_was_cached() {
        let keys = secrets(&["k"]);
        let cache = VerifiedCookies::new();
        let value = raw("k", "Y2hhcmxpZS1icm93bi1jaGFybGllLWJy");
        assert!(cache.verify(&keys, value.as_bytes()).is_some());
        // Every byte replaced by every other printable byte, and every prefix and extension.
        for i in 0..value.len() {
            for b in 0x20u8..0x7f {
                let mut tampered = value.clone().into_bytes();
                if tampered[i] == b {
                    continue;
                }
                tampered[i] = b;
                let got = cache.verify(&keys, &tampered).map(|c| c.id.clone());
                assert_eq!(got, uncached(&keys, &tampered), "{i} {b}");
                // Percent-encoding the same value differently decodes to the same signed
                // value: only then may it verify.
                if got.is_some() {
                    assert_eq!(decode_raw(&tampered), decode_raw(value.as_bytes()));
                }
            }
            assert!(cache.verify(&keys, &value.as_bytes()[..i]).is_none());
        }
        assert!(cache
            .verify(&keys, format!("{value}x").as_bytes())
            .is_none());
        assert!(cache.verify(&keys, value.as_bytes()).is_some());
    }

    #[test]
    fn values_that_share_a_slot_are_told_apart_by_the_whole_value() {
        let keys = secrets(&["k"]);
        let cache = VerifiedCookies::new();
        let a = raw("k", "a");
        assert!(cache.verify(&keys, a.as_bytes()).is_some());
        // Same last bytes (same slot), another start: verified afresh, and rejected.
        let mut forged = a.clone().into_bytes();
        forged[4] = b'b';
        assert_eq!(cache.slot(&forged), cache.slot(a.as_bytes()));
        assert!(cache.verify(&keys, &forged).is_none());
        // Another id signed under the same key takes the slot only if it lands there; either
        // way both still verify.
        let b = raw("k", "b");
        assert_eq!(cache.verify(&keys, b.as_bytes()).unwrap().id, "b");
        assert_eq!(cache.verify(&keys, a.as_bytes()).unwrap().id, "a");
    }

    #[test]
    fn a_cache_answers_only_for_its_own_secrets() {
        let cache = VerifiedCookies::new();
        let old = raw("old", "abc");
        assert!(cache.verify(&secrets(&["old"]), old.as_bytes()).is_some());
        // The same value under other secrets is verified afresh: the cache belongs to one
        // list of secrets (one middleware), and another list gets a cache of its own.
        let other = VerifiedCookies::new();
        assert!(other.verify(&secrets(&["new"]), old.as_bytes()).is_none());
        assert_eq!(other.len(), 0, "rejections are not cached");
    }

    #[test]
    fn only_a_cookie_of_the_first_secret_is_sent_back_as_it_is() {
        let keys = secrets(&["new", "old"]);
        let cache = VerifiedCookies::new();
        let current = raw("new", "abc");
        assert_eq!(
            cache
                .verify(&keys, current.as_bytes())
                .unwrap()
                .current_value,
            Some(keys.sign_encoded("abc"))
        );
        let old = raw("old", "abc");
        let verified = cache.verify(&keys, old.as_bytes()).unwrap();
        assert_eq!(verified.id, "abc");
        assert_eq!(
            verified.current_value, None,
            "re-signed with the new secret"
        );
        // Unencoded, the value verifies too; what goes back is express's encoding.
        let plain = keys.sign("abc");
        assert_eq!(
            cache.verify(&keys, plain.as_bytes()).unwrap().current_value,
            Some(encode_value(&plain))
        );
    }

    #[test]
    fn the_cache_is_bounded_in_entries_and_bytes() {
        let keys = secrets(&["k"]);
        let cache = VerifiedCookies::new();
        for i in 0..SLOTS * 4 {
            let value = raw("k", &format!("{i:032}"));
            assert!(cache.verify(&keys, value.as_bytes()).is_some());
        }
        assert!(cache.len() <= SLOTS, "{}", cache.len());
        assert!(
            cache.len() > SLOTS / 2,
            "the slots are used: {}",
            cache.len()
        );
        // A value longer than the bound verifies, and is not kept.
        let cache = VerifiedCookies::new();
        let long = raw("k", &"x".repeat(MAX_CACHED_LEN));
        assert_eq!(
            cache.verify(&keys, long.as_bytes()).unwrap().id.len(),
            MAX_CACHED_LEN
        );
        assert_eq!(cache.len(), 0);
        // Values of about the longest kept length, in every slot: a bounded number of bytes.
        let longest_id = MAX_CACHED_LEN - "s%3A.".len() - 43;
        for i in 0..SLOTS * 4 {
            let id = format!("{i:0>longest_id$}");
            let value = raw("k", &id);
            assert!(cache.verify(&keys, value.as_bytes()).is_some());
        }
        assert!(cache.len() > SLOTS / 2, "{}", cache.len());
        assert!(
            cache.held_bytes() <= SLOTS * 3 * MAX_CACHED_LEN,
            "{}",
            cache.held_bytes()
        );
    }

    #[test]
    fn values_that_are_not_session_cookies_are_rejected_and_not_kept() {
        let keys = secrets(&["k"]);
        let cache = VerifiedCookies::new();
        for junk in [
            &b""[..],
            b"s%3A",
            b"\xff\xfe",
            b"s:abc",
            b"s%3Aabc.%ZZ",
            b"%",
        ] {
            assert!(cache.verify(&keys, junk).is_none());
        }
        assert_eq!(cache.len(), 0);
    }
}
