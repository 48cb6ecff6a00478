//! The signing secrets given to the middleware and the codec: strings, key bytes, actix-web's
//! `cookie::Key`, one or several.

/// The signing secrets: one, or several for key rotation (the first signs, all verify).
///
/// A secret is the HMAC-SHA256 key that signs the session cookie, as express-session's `secret`:
/// a string (its UTF-8 bytes), or binary key bytes. A list is several secrets.
///
/// | value | secrets |
/// |---|---|
/// | `"s"`, `String` | one: the string's UTF-8 bytes |
/// | `&[u8]`, `Vec<u8>`, `[u8; N]`, `&[u8; N]` (`b"…"`) | one: these bytes (a `Vec<u8>` is one key, not a list of bytes) |
/// | actix-web's `cookie::Key` (feature `cookie-key`) | one: the key's `signing()` bytes |
/// | `vec![…]`, `&[…]`, `[…; N]` of any of the above | one per element |
/// | [`SessionSecrets::from_keys`]`(iter)` | one per item |
///
/// ```
/// use actix_typed_session::SessionSecrets;
///
/// let one: SessionSecrets = "a long random secret, 32 bytes or more".into();
/// let rotated: SessionSecrets = vec!["new secret", "old secret"].into();
/// let binary: SessionSecrets = vec![7u8; 64].into(); // one 64-byte key
/// let keys = SessionSecrets::from_keys([vec![1u8; 32], vec![2u8; 32]]); // two keys
/// # let _ = (one, rotated, binary, keys);
/// ```
///
/// Building the middleware (or a [`SessionCodec`](crate::SessionCodec)) refuses an empty list and
/// an empty secret, as express-session does: an empty HMAC key signs nothing secret. A secret
/// shorter than 32 bytes is accepted with a warning (`tracing`, level `WARN`, naming its position
/// and length, never its bytes). A Node app sharing the sessions needs the same secrets as
/// strings: express-session's `cookie-signature` signs with a string's UTF-8 bytes, so binary
/// keys are for sessions that only Rust apps read.
///
/// `Debug` shows how many secrets there are and their lengths, never their bytes.
#[derive(Clone)]
pub struct SessionSecrets(pub(crate) Vec<Vec<u8>>);

impl SessionSecrets {
    /// Several secrets, one per item, in order: the first signs, every one verifies.
    ///
    /// ```
    /// use actix_typed_session::SessionSecrets;
    ///
    /// // Binary keys from somewhere else, newest first.
    /// let keys: Vec<Vec<u8>> = vec![vec![0x5a; 32], vec![0xa5; 32]];
    /// let secrets = SessionSecrets::from_keys(keys);
    /// # let _ = secrets;
    /// ```
    pub fn from_keys<K: SecretKey>(keys: impl IntoIterator<Item = K>) -> Self {
        Self(
            keys.into_iter()
                .map(|k| k.secret_bytes().to_vec())
                .collect(),
        )
    }
}

impl std::fmt::Debug for SessionSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lengths: Vec<usize> = self.0.iter().map(Vec::len).collect();
        f.debug_struct("SessionSecrets")
            .field("lengths", &lengths)
            .finish_non_exhaustive()
    }
}

/// One secret, as an element of a list of [`SessionSecrets`]: a string (its UTF-8 bytes), key
/// bytes, or actix-web's `cookie::Key` (feature `cookie-key`).
pub trait SecretKey {
    /// The HMAC-SHA256 key bytes.
    fn secret_bytes(&self) -> &[u8];
}

impl<K: SecretKey + ?Sized> SecretKey for &K {
    fn secret_bytes(&self) -> &[u8] {
        (**self).secret_bytes()
    }
}

impl SecretKey for str {
    fn secret_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl SecretKey for String {
    fn secret_bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl SecretKey for [u8] {
    fn secret_bytes(&self) -> &[u8] {
        self
    }
}

impl SecretKey for Vec<u8> {
    fn secret_bytes(&self) -> &[u8] {
        self
    }
}

impl<const N: usize> SecretKey for [u8; N] {
    fn secret_bytes(&self) -> &[u8] {
        self
    }
}

/// The key's [signing](actix_web::cookie::Key::signing) bytes (32): the part of the key that
/// actix-web's signed cookies use with HMAC-SHA256.
#[cfg(feature = "cookie-key")]
impl SecretKey for actix_web::cookie::Key {
    fn secret_bytes(&self) -> &[u8] {
        self.signing()
    }
}

/// One secret each (`Vec<u8>` and arrays of bytes are ONE key).
macro_rules! one_secret {
    ($($ty:ty),* $(,)?) => {$(
        impl From<$ty> for SessionSecrets {
            fn from(secret: $ty) -> Self {
                Self(vec![secret.secret_bytes().to_vec()])
            }
        }
    )*};
}

one_secret!(&str, String, &String, &[u8], Vec<u8>);

#[cfg(feature = "cookie-key")]
one_secret!(actix_web::cookie::Key, &actix_web::cookie::Key);

impl<const N: usize> From<[u8; N]> for SessionSecrets {
    fn from(secret: [u8; N]) -> Self {
        Self(vec![secret.to_vec()])
    }
}

impl<const N: usize> From<&[u8; N]> for SessionSecrets {
    fn from(secret: &[u8; N]) -> Self {
        Self(vec![secret.to_vec()])
    }
}

impl<K: SecretKey> From<Vec<K>> for SessionSecrets {
    fn from(list: Vec<K>) -> Self {
        Self::from_keys(list)
    }
}

impl<K: SecretKey> From<&[K]> for SessionSecrets {
    fn from(list: &[K]) -> Self {
        Self::from_keys(list)
    }
}

impl<K: SecretKey, const N: usize> From<[K; N]> for SessionSecrets {
    fn from(list: [K; N]) -> Self {
        Self::from_keys(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_keys_are_one_secret_and_lists_are_several() {
        let key = vec![1u8, 2, 3];
        let one = vec![key.clone()];
        assert_eq!(SessionSecrets::from(key.clone()).0, one);
        assert_eq!(SessionSecrets::from(&key[..]).0, one);
        assert_eq!(SessionSecrets::from([1u8, 2, 3]).0, one);
        assert_eq!(SessionSecrets::from(&[1u8, 2, 3]).0, one);
        let two = vec![key.clone(), vec![4]];
        assert_eq!(SessionSecrets::from(two.clone()).0, two);
        assert_eq!(SessionSecrets::from([&key[..], &[4]]).0, two);
        assert_eq!(SessionSecrets::from_keys(two.iter()).0, two);
        assert_eq!(
            SessionSecrets::from(["a", "bc"]).0,
            [b"a".to_vec(), b"bc".to_vec()]
        );
        assert_eq!(
            SessionSecrets::from(&["a".to_owned()][..]).0,
            [b"a".to_vec()]
        );
    }
}
