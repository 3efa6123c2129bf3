//! The checks a parser and [`crate::read`] share, kept below every parser so that the read path
//! runs one way (`read` -> parsers -> these checks): the realm a file names against the realm
//! being loaded, and the error of a codec handed a file of another format. Must not import a
//! parser, `read` or any policy.

use crate::{CodecKind, Error, Format};

/// Reader step 3, first half: the realm in the file equals the realm being loaded (any realm
/// when none is given).
pub(crate) fn realm(found: &str, expected: Option<&str>) -> Result<(), Error> {
    match expected {
        Some(expected) if expected != found => Err(Error::RealmMismatch {
            found: found.to_string(),
            expected: expected.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The error of a codec's `decode` handed a file of another format.
pub(crate) fn wrong_codec(found: Format, codec: CodecKind) -> Error {
    Error::Unsupported {
        what: format!(
            "this is a {} file, not a {} one; read it with the {} codec",
            found.as_str(),
            codec.as_str(),
            found.as_str()
        ),
    }
}
