//! `Authorization: Bearer <key>` (RFC 6750): the scheme is case-insensitive,
//! the key is everything after the spaces that follow it.

use crate::AuthError;

/// The key in an `Authorization` header value.
pub fn bearer(value: Option<&[u8]>) -> Result<&[u8], AuthError> {
    let value = value.ok_or(AuthError::Missing)?;
    let Some(scheme) = value.get(..6) else {
        return Err(AuthError::Malformed);
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(AuthError::Malformed);
    }
    let rest = &value[6..];
    let key = rest.trim_ascii_start();
    if key.len() == rest.len() || key.is_empty() {
        return Err(AuthError::Malformed);
    }
    Ok(key.trim_ascii_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_keys_are_read() {
        assert_eq!(bearer(Some(b"Bearer abc")), Ok(&b"abc"[..]));
        assert_eq!(bearer(Some(b"bearer   abc ")), Ok(&b"abc"[..]));
        assert_eq!(bearer(Some(b"BEARER abc")), Ok(&b"abc"[..]));
    }

    #[test]
    fn other_forms_are_refused() {
        assert_eq!(bearer(None), Err(AuthError::Missing));
        for bad in [
            &b""[..],
            b"Bearer",
            b"Bearer ",
            b"Bearerabc",
            b"Basic YWJjOmRlZg==",
            b"abc",
        ] {
            assert_eq!(bearer(Some(bad)), Err(AuthError::Malformed), "{bad:?}");
        }
    }
}
