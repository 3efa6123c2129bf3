//! Reading a file of any format under a realm's policy ([`read`]) and looking at a header
//! without a key ([`inspect`]). Owns the reader order across formats (FORMAT.md's numbered
//! list) and the policy checks; must not know byte layouts (they live in `frame`, `json`,
//! `legacy`, `body`, `compact`, `stream`) nor touch key material itself (that is `sealed`'s).
//! The read path runs one way: this module calls the parsers, and the parsers call only the
//! shared checks below them (`check`), never back into this one.

use crate::frame::{self, FrameCodec, KDF_ARGON2ID, KDF_RAW};
use crate::{
    check, detect, json, legacy, msgpack, sealed, Error, Format, KdfParams, PeerFile, SealedCodec,
};
use zeroize::Zeroizing;

/// What a realm allows when reading a file, and the key it has.
#[derive(Debug, Clone, Copy)]
pub struct ReadPolicy<'a> {
    /// The realm being loaded; `None` accepts the realm the file names (legacy files then fail
    /// with [`Error::RealmRequired`]).
    pub realm: Option<&'a str>,
    /// Refuse plaintext formats (json, msgpack, legacy) with [`Error::PolicyViolation`].
    pub require_encryption: bool,
    /// The realm's sealed codec (its key), if it has one; a sealed file without it is
    /// [`Error::MissingKey`].
    pub sealed: Option<&'a SealedCodec>,
    /// `last_seen` for legacy entries whose `last_success_epoch` is null: the file's mtime.
    /// Also the `saved_at` reported for a legacy file, which has none of its own.
    pub legacy_mtime: u64,
    /// Apply FORMAT.md's duplicate-address rule (true, as the constructors set it): a file in
    /// which two entries have one stored address is corrupt. False only through
    /// [`ReadPolicy::defer_duplicate_check`].
    pub check_duplicates: bool,
}

impl<'a> ReadPolicy<'a> {
    /// A plaintext realm without a key.
    pub fn plaintext(realm: Option<&'a str>) -> ReadPolicy<'a> {
        ReadPolicy {
            realm,
            require_encryption: false,
            sealed: None,
            legacy_mtime: 0,
            check_duplicates: true,
        }
    }

    /// A realm with a sealed codec: it reads sealed files with `codec` and, when
    /// `require_encryption` is set, refuses every plaintext format.
    pub fn sealed(
        realm: Option<&'a str>,
        codec: &'a SealedCodec,
        require_encryption: bool,
    ) -> ReadPolicy<'a> {
        ReadPolicy {
            realm,
            require_encryption,
            sealed: Some(codec),
            legacy_mtime: 0,
            check_duplicates: true,
        }
    }

    /// This policy with the duplicate-address rule left to the caller: the reader builds no set
    /// of addresses, and the entries of a [`Decoded`] may then repeat an address. The caller
    /// must apply FORMAT.md's rule itself (no two entries with one [`stored_addr`]) and refuse
    /// such a file with [`duplicate_address`]`(index)` of the first entry that repeats an
    /// earlier one, which is the error, class and message the reader would have given. For a
    /// loader whose own index finds a repeated address anyway (the store's hydrate), so that a
    /// load makes one duplicate check per entry, not two. Every other check is unchanged; in a
    /// file with several faults, an error about another fault may then come first.
    ///
    /// [`stored_addr`]: crate::stored_addr
    /// [`duplicate_address`]: crate::duplicate_address
    pub fn defer_duplicate_check(self) -> ReadPolicy<'a> {
        ReadPolicy {
            check_duplicates: false,
            ..self
        }
    }
}

/// A file read by [`read`]: its format and contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The format found.
    pub format: Format,
    /// The contents.
    pub file: PeerFile,
}

/// How a sealed file's key was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfInfo {
    /// `kdf` = 0: a raw key from a key file.
    KeyFile,
    /// `kdf` = 1: Argon2id of a passphrase.
    Argon2id(KdfParams),
}

/// What a file says about itself without any key ([`inspect`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The format.
    pub format: Format,
    /// The format version the file declares: the binary frame version (1 or 2) of a msgpack
    /// or sealed file, the envelope version (1) of a JSON file, 0 for a legacy file, which has
    /// none.
    pub version: u64,
    /// The realm (legacy files have none).
    pub realm: Option<String>,
    /// Unix seconds of the save (legacy files have none).
    pub saved_at: Option<u64>,
    /// Number of entries the file declares (for JSON and legacy files: the array's length).
    pub entry_count: u64,
    /// Size in bytes of the whole file.
    pub file_len: u64,
    /// Sealed files only: how the key was made (as stored; not checked against the bounds).
    pub kdf: Option<KdfInfo>,
}

/// Step 3, second half: the realm's policy allows a plaintext format.
fn check_plaintext_allowed(policy: &ReadPolicy<'_>, format: Format) -> Result<(), Error> {
    if policy.require_encryption {
        return Err(Error::PolicyViolation {
            what: format!(
                "the realm requires encryption but this is a plaintext {} file; convert it with \
                 `knownpeers convert --to sealed`",
                format.as_str()
            ),
        });
    }
    Ok(())
}

/// Reads a whole file of any format under `policy`, with the checks of FORMAT.md in its order:
/// the file size; the format ([`detect`]); for a binary frame magic, version, codec, flags and
/// length, then the header CRC; the realm, then the policy; for a sealed file the KDF bounds,
/// the key (missing, then the key check), the AEAD; for msgpack the body CRC; the body.
pub fn read(bytes: &[u8], policy: &ReadPolicy<'_>) -> Result<Decoded, Error> {
    crate::entry::check_file_size(bytes.len() as u64)?;
    let format = detect(bytes)?;
    let file = match format {
        Format::Json => {
            let (head, entries) = json::read_envelope(
                bytes,
                &|head| {
                    check::realm(&head.realm, policy.realm)?;
                    check_plaintext_allowed(policy, format)
                },
                policy.check_duplicates,
            )?;
            PeerFile {
                entries,
                realm: head.realm,
                saved_at: head.saved_at,
            }
        }
        Format::Legacy => {
            // A legacy file names no realm: it is accepted into the realm being loaded.
            let realm = policy.realm.ok_or(Error::RealmRequired)?;
            check_plaintext_allowed(policy, format)?;
            PeerFile {
                realm: realm.to_string(),
                saved_at: policy.legacy_mtime,
                entries: legacy::parse(bytes, policy.legacy_mtime, policy.check_duplicates)?,
            }
        }
        Format::Msgpack | Format::Sealed => {
            let header = frame::parse(bytes)?;
            check::realm(header.realm, policy.realm)?;
            let entries = match header.codec {
                FrameCodec::Msgpack => {
                    check_plaintext_allowed(policy, format)?;
                    msgpack::decode_body(bytes, &header, policy.check_duplicates)?
                }
                FrameCodec::Sealed => {
                    sealed_key(&header, policy)?.open(bytes, &header, policy.check_duplicates)?
                }
            };
            PeerFile {
                realm: header.realm.to_owned(),
                saved_at: header.saved_at,
                entries,
            }
        }
    };
    Ok(Decoded { format, file })
}

/// [`read`] of a file the caller hands over, as a loader that has just read it does: a sealed
/// body is opened in place in `bytes` instead of in a copy (on a large file the copy's page
/// faults cost about as much as the cipher), and `bytes` is zeroized when dropped, since it
/// then holds plaintext. Other formats are read as [`read`] reads them; the result, checks and
/// errors are the same in every case.
pub fn read_owned(bytes: Vec<u8>, policy: &ReadPolicy<'_>) -> Result<Decoded, Error> {
    if !matches!(detect(&bytes), Ok(Format::Sealed)) {
        return read(&bytes, policy);
    }
    let mut bytes = Zeroizing::new(bytes);
    crate::entry::check_file_size(bytes.len() as u64)?;
    let header = frame::parse(&bytes)?;
    check::realm(header.realm, policy.realm)?;
    let codec = sealed_key(&header, policy)?;
    let (realm, saved_at) = (header.realm.to_owned(), header.saved_at);
    let shape = sealed::OwnedShape {
        version: header.version,
        fields: header
            .sealed
            .clone()
            .expect("frame::parse fills the sealed block of a sealed header"),
        header_len: header.header_len,
        body_len: header.body_len,
        entry_count: header.entry_count,
    };
    let entries = codec.open_owned(&mut bytes, &shape, policy.check_duplicates)?;
    // The file's buffer (now plaintext) is zeroized and released before the duplicate check
    // builds its set of addresses, so a load's peak is the larger of the two, not their sum.
    drop(bytes);
    let entries = entries.unique(policy.check_duplicates)?;
    Ok(Decoded {
        format: Format::Sealed,
        file: PeerFile {
            realm,
            saved_at,
            entries,
        },
    })
}

/// Reader step 4, which needs no key (so a KDF bomb is refused even without one), then the
/// realm's sealed codec: a sealed file without one is [`Error::MissingKey`].
fn sealed_key<'p>(
    header: &frame::FrameHeader<'_>,
    policy: &ReadPolicy<'p>,
) -> Result<&'p SealedCodec, Error> {
    let fields = header
        .sealed
        .as_ref()
        .expect("frame::parse fills the sealed block of a sealed header");
    sealed::file_kdf(fields)?;
    policy.sealed.ok_or(Error::MissingKey)
}

/// The header of any file, without a key (for `knownpeers inspect`); checks what can be checked
/// without a key (magic, version, header CRC, lengths).
pub fn inspect(bytes: &[u8]) -> Result<Header, Error> {
    crate::entry::check_file_size(bytes.len() as u64)?;
    let format = detect(bytes)?;
    let file_len = bytes.len() as u64;
    match format {
        Format::Json => {
            let head = json::parse_head(bytes)?;
            let entry_count = head.entry_count.ok_or_else(|| {
                Error::corrupt("JSON envelope: `entries` is missing or not an array")
            })?;
            Ok(Header {
                format,
                version: u64::from(crate::FORMAT_VERSION),
                realm: Some(head.realm),
                saved_at: Some(head.saved_at),
                entry_count,
                file_len,
                kdf: None,
            })
        }
        Format::Legacy => Ok(Header {
            format,
            version: 0,
            realm: None,
            saved_at: None,
            entry_count: legacy::count(bytes)?,
            file_len,
            kdf: None,
        }),
        Format::Msgpack | Format::Sealed => {
            let header = frame::parse(bytes)?;
            let kdf = match &header.sealed {
                None => None,
                Some(f) => Some(match f.kdf {
                    KDF_RAW => KdfInfo::KeyFile,
                    KDF_ARGON2ID => KdfInfo::Argon2id(KdfParams {
                        m_cost_kib: f.m_cost,
                        t_cost: f.t_cost,
                        p_cost: f.p_cost,
                    }),
                    other => {
                        return Err(Error::Unsupported {
                            what: format!(
                                "kdf byte {other} (this reader knows 0 = key file, 1 = Argon2id)"
                            ),
                        })
                    }
                }),
            };
            Ok(Header {
                format,
                version: u64::from(header.version.number()),
                realm: Some(header.realm.to_owned()),
                saved_at: Some(header.saved_at),
                entry_count: u64::from(header.entry_count),
                file_len,
                kdf,
            })
        }
    }
}
