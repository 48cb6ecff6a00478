//! Session ids: 24 random bytes, base64url without padding, as express-session's `uid-safe` makes
//! them (32 characters, 192 bits).
//!
//! The bytes come from `rand`'s thread-local CSPRNG (ChaCha12), seeded from the operating
//! system's random number generator and reseeded from it after every 64 KiB of output: the
//! security of OS randomness without a system call per id.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::Rng as _;

/// A new random session id.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_32_url_safe_characters_and_distinct() {
        let a = random_id();
        let b = random_id();
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }

    #[test]
    fn ids_across_reseeds_and_threads_never_repeat_and_use_every_bit() {
        // 10,000 ids per thread is 240,000 bytes: several reseeds of the generator.
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..10_000).map(|_| random_id()).collect::<Vec<_>>()))
            .collect();
        let ids: Vec<String> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "an id repeated");
        // Each of the 192 bits is set in about half of the ids.
        let mut ones = [0u32; 192];
        for id in &ids {
            let bytes = URL_SAFE_NO_PAD.decode(id).unwrap();
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += u32::from(bytes[bit / 8] >> (bit % 8) & 1);
            }
        }
        let n = ids.len() as f64;
        for (bit, &count) in ones.iter().enumerate() {
            let share = f64::from(count) / n;
            assert!(
                (0.48..0.52).contains(&share),
                "bit {bit} set in {share:.3} of ids"
            );
        }
    }
}
