//! The sealed codec: a binary frame whose MessagePack body is sealed under a key derived from a
//! key file or a passphrase (FORMAT.md "Sealed codec"): in version 1 one XChaCha20-Poly1305
//! message, in version 2 a STREAM of ChaCha20-Poly1305 chunks under a per-file key (`stream`).
//! Owns reader steps 4 to 7 of a sealed file and the per-process key cache; must never let key
//! material reach `Debug`, an error or an unzeroized buffer it controls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use zeroize::{Zeroize as _, Zeroizing};

use crate::entry::check_file_size;
use crate::frame::{
    self, FrameCodec, FrameHeader, FrameVersion, SealedFields, KDF_ARGON2ID, KDF_RAW, TAG_LEN,
};
use crate::primitives::{self, ChunkCipher, NONCE_LEN};
use crate::{
    body, check, compact, piece, stream, Codec, CodecKind, EntrySource, Error, KdfParams, Key,
    PeerEntry, PeerFile, SecretString,
};

/// The sealed frame codec. Holds the realm's key source; for a passphrase it derives the master
/// key once per process and reuses it (and its salt) for every save, drawing a fresh nonce each
/// time. `Debug` shows the key source kind only.
///
/// When it decodes a file sealed under its own passphrase with its own KDF parameters, it
/// keeps that file's salt and master key for later saves (if it has none yet), so that a
/// load followed by saves runs Argon2id once per process.
///
/// It writes binary frame version 2 unless [`SealedCodec::with_frame_version`] asks for 1, and
/// reads both.
pub struct SealedCodec {
    secret: Secret,
    kdf_runs: AtomicU64,
    version: FrameVersion,
}

enum Secret {
    /// `kdf` = 0: the master key is the key file's 32 bytes.
    Raw(Key),
    /// `kdf` = 1: the master key is Argon2id of the passphrase.
    Passphrase {
        passphrase: SecretString,
        /// The writer's parameters (the realm's policy), never a file's.
        params: KdfParams,
        /// The costliest parameters a file may ask this codec to run (see
        /// [`SealedCodec::with_kdf_ceiling`]).
        ceiling: KdfParams,
        /// The master key and salt every save uses, derived (or adopted) at most once.
        cache: Mutex<Option<Derived>>,
    },
}

/// What [`SealedCodec::open_owned`] needs of a parsed header once the file's buffer is no
/// longer borrowed by it.
pub(crate) struct OwnedShape {
    pub version: FrameVersion,
    pub fields: SealedFields,
    pub header_len: usize,
    pub body_len: usize,
    pub entry_count: u32,
}

/// A derived master key with the salt it was derived with (under the codec's own params).
struct Derived {
    salt: [u8; 16],
    master: Key,
}

impl std::fmt::Debug for SealedCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("SealedCodec");
        match &self.secret {
            Secret::Raw(_) => d.field("key", &"key file"),
            Secret::Passphrase {
                params, ceiling, ..
            } => d
                .field("key", &"passphrase")
                .field("kdf", params)
                .field("kdf_ceiling", ceiling),
        };
        d.field("kdf_runs", &self.kdf_runs())
            .field("version", &self.version)
            .finish()
    }
}

/// The cache holds no invariant a panic could break half-way (it is replaced whole), so a
/// poisoned lock is still safe to use.
fn lock(cache: &Mutex<Option<Derived>>) -> MutexGuard<'_, Option<Derived>> {
    cache.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SealedCodec {
    /// A codec sealing under a raw key (FORMAT.md `kdf` = 0).
    pub fn with_key(key: Key) -> SealedCodec {
        SealedCodec {
            secret: Secret::Raw(key),
            kdf_runs: AtomicU64::new(0),
            version: FrameVersion::LATEST,
        }
    }

    /// A codec sealing under Argon2id of `passphrase` with `params` (checked against the
    /// writer's minimum; `kdf` = 1). No derivation happens until the first encode or decode.
    pub fn with_passphrase(
        passphrase: SecretString,
        params: KdfParams,
    ) -> Result<SealedCodec, Error> {
        params.check_writer_minimum()?;
        Ok(SealedCodec::passphrase_unchecked(passphrase, params))
    }

    /// A passphrase codec for reading: it would write with [`KdfParams::DEFAULT`], and opens a
    /// file sealed with parameters up to [`KdfParams::DEFAULT`] (raise that with
    /// [`SealedCodec::with_kdf_ceiling`]).
    pub fn reader_with_passphrase(passphrase: SecretString) -> SealedCodec {
        SealedCodec::passphrase_unchecked(passphrase, KdfParams::DEFAULT)
    }

    fn passphrase_unchecked(passphrase: SecretString, params: KdfParams) -> SealedCodec {
        SealedCodec {
            secret: Secret::Passphrase {
                passphrase,
                params,
                ceiling: SealedCodec::default_kdf_ceiling(&params),
                cache: Mutex::new(None),
            },
            kdf_runs: AtomicU64::new(0),
            version: FrameVersion::LATEST,
        }
    }

    /// The same codec writing binary frame version `version` (version 1 for a node whose
    /// reader knows only version 1). Reading is unaffected: both versions are read.
    pub fn with_frame_version(mut self, version: FrameVersion) -> SealedCodec {
        self.version = version;
        self
    }

    /// The binary frame version this codec writes.
    pub fn frame_version(&self) -> FrameVersion {
        self.version
    }

    /// The ceiling a passphrase codec gets unless told otherwise: each cost at the larger of
    /// the writer's own `params` and [`KdfParams::DEFAULT`]. A loading node thus runs at most
    /// what it would write itself (or what a default writer would), not FORMAT.md's reader
    /// bounds (m = 1 GiB, t = 10, p = 16, about half a minute of Argon2id per open).
    pub fn default_kdf_ceiling(params: &KdfParams) -> KdfParams {
        KdfParams {
            m_cost_kib: params.m_cost_kib.max(KdfParams::DEFAULT.m_cost_kib),
            t_cost: params.t_cost.max(KdfParams::DEFAULT.t_cost),
            p_cost: params.p_cost.max(KdfParams::DEFAULT.p_cost),
        }
    }

    /// Sets the costliest Argon2id parameters a file may make this codec run: a file whose
    /// `m_cost`, `t_cost` or `p_cost` is over the ceiling's is refused as
    /// [`Error::LimitExceeded`] before any key work. The ceiling must lie within FORMAT.md's
    /// reader bounds. No effect on a key-file codec, which runs no KDF.
    pub fn with_kdf_ceiling(mut self, ceiling: KdfParams) -> Result<SealedCodec, Error> {
        ceiling.check_bounds()?;
        if let Secret::Passphrase { ceiling: c, .. } = &mut self.secret {
            *c = ceiling;
        }
        Ok(self)
    }

    /// The costliest Argon2id parameters this codec runs for a file; `None` for a key-file key.
    pub fn kdf_ceiling(&self) -> Option<KdfParams> {
        match &self.secret {
            Secret::Raw(_) => None,
            Secret::Passphrase { ceiling, .. } => Some(*ceiling),
        }
    }

    /// How many times this codec has run Argon2id (for tests and benchmarks).
    pub fn kdf_runs(&self) -> u64 {
        self.kdf_runs.load(Ordering::Relaxed)
    }

    /// The Argon2id parameters this codec writes with; `None` for a key-file key.
    pub fn kdf_params(&self) -> Option<KdfParams> {
        match &self.secret {
            Secret::Raw(_) => None,
            Secret::Passphrase { params, .. } => Some(*params),
        }
    }

    fn derive(
        &self,
        passphrase: &SecretString,
        salt: &[u8; 16],
        params: &KdfParams,
    ) -> Result<Key, Error> {
        // Bounds were checked by the caller (reader step 4 or the constructor); derive checks
        // them again before any work.
        self.kdf_runs.fetch_add(1, Ordering::Relaxed);
        Ok(knownpeers_keys::derive_argon2id(passphrase, salt, params)?)
    }

    /// The sealed header block and the body key (`enc_key` in version 1, `file_key` in
    /// version 2) for one save under `nonce`.
    fn seal_material(&self, nonce: &[u8; NONCE_LEN]) -> Result<(SealedFields, Key), Error> {
        let version = self.version;
        match &self.secret {
            Secret::Raw(master) => Ok((
                SealedFields {
                    kdf: KDF_RAW,
                    m_cost: 0,
                    t_cost: 0,
                    p_cost: 0,
                    salt: [0; 16],
                    nonce: *nonce,
                    key_check: primitives::key_check(master, nonce),
                },
                body_key(version, master, nonce),
            )),
            Secret::Passphrase {
                passphrase,
                params,
                cache,
                ..
            } => {
                // Held across Argon2id on purpose: concurrent first saves derive once.
                let mut guard = lock(cache);
                if guard.is_none() {
                    let salt = knownpeers_keys::random_salt()?;
                    let master = self.derive(passphrase, &salt, params)?;
                    *guard = Some(Derived { salt, master });
                }
                let derived = guard.as_ref().expect("filled just above");
                Ok((
                    SealedFields {
                        kdf: KDF_ARGON2ID,
                        m_cost: params.m_cost_kib,
                        t_cost: params.t_cost,
                        p_cost: params.p_cost,
                        salt: derived.salt,
                        nonce: *nonce,
                        key_check: primitives::key_check(&derived.master, nonce),
                    },
                    body_key(version, &derived.master, nonce),
                ))
            }
        }
    }

    /// Reader steps 4 to 7 for a header that passed steps 1 to 3, on a borrowed file: after the
    /// key check, the body is copied once into a buffer that zeroizes itself, and opened there.
    /// Repeated addresses are refused unless `check_dups` is false.
    pub(crate) fn open(
        &self,
        bytes: &[u8],
        header: &FrameHeader<'_>,
        check_dups: bool,
    ) -> Result<Vec<PeerEntry>, Error> {
        let f = header
            .sealed
            .as_ref()
            .expect("frame::parse fills the sealed block of a sealed header");
        let (key, adopt) = self.unlock(f, header.version)?;
        let aad = &bytes[..header.header_len];
        let entries = match header.version {
            FrameVersion::V1 => {
                let mut body = Zeroizing::new(header.body(bytes).to_vec());
                open_v1(&key, f, aad, &mut body, header.entry_count, check_dups)?
            }
            FrameVersion::V2 => {
                let body = header.body(bytes);
                let mut decoder = v2_decoder(body.len(), header.entry_count)?;
                stream::open_copy(&ChunkCipher::new(&key), aad, body, &mut decoder)?;
                decoder.into_entries().unique(check_dups)?
            }
        };
        self.adopt(f, adopt);
        Ok(entries)
    }

    /// Reader steps 4 to 7 on a file the caller owns: the body is opened in place in `file`
    /// (no copy), which then holds plaintext: the caller zeroizes it. The caller applies the
    /// duplicate-address rule ([`compact::Unchecked::unique`]) once it has released `file`
    /// (a version-1 body is checked as it is parsed, unless `check_dups` is false).
    pub(crate) fn open_owned(
        &self,
        file: &mut [u8],
        shape: &OwnedShape,
        check_dups: bool,
    ) -> Result<compact::Unchecked, Error> {
        let f = &shape.fields;
        let (key, adopt) = self.unlock(f, shape.version)?;
        let (aad, rest) = file.split_at_mut(shape.header_len);
        let body = &mut rest[..shape.body_len];
        let entries = match shape.version {
            FrameVersion::V1 => compact::Unchecked::checked(open_v1(
                &key,
                f,
                aad,
                body,
                shape.entry_count,
                check_dups,
            )?),
            FrameVersion::V2 => {
                let mut decoder = v2_decoder(body.len(), shape.entry_count)?;
                stream::open_in_place(&ChunkCipher::new(&key), aad, body, &mut decoder)?;
                decoder.into_entries()
            }
        };
        self.adopt(f, adopt);
        Ok(entries)
    }

    /// Reader steps 4 and 5: the KDF byte and bounds, then the master key and the key check.
    /// Returns the body key of `version`, and a passphrase master key worth keeping for saves
    /// once the body authenticates (never before: a key is adopted only when it opened a file).
    fn unlock(&self, f: &SealedFields, version: FrameVersion) -> Result<(Key, Option<Key>), Error> {
        // Step 4: the KDF byte and bounds, before any key work.
        let file_params = file_kdf(f)?;

        // Step 5: the master key, then the key check.
        let mut adopt = None;
        let (enc_key, check) = match (&self.secret, file_params) {
            (Secret::Raw(master), None) => (
                body_key(version, master, &f.nonce),
                primitives::key_check(master, &f.nonce),
            ),
            (Secret::Raw(_), Some(_)) => {
                return Err(Error::KeyKindMismatch {
                    file: "a passphrase",
                    given: "a key file",
                })
            }
            (Secret::Passphrase { .. }, None) => {
                return Err(Error::KeyKindMismatch {
                    file: "a key file",
                    given: "a passphrase",
                })
            }
            (
                Secret::Passphrase {
                    passphrase,
                    params,
                    ceiling,
                    cache,
                },
                Some(fp),
            ) => {
                check_ceiling(&fp, ceiling)?;
                let guard = lock(cache);
                match guard.as_ref() {
                    Some(d) if d.salt == f.salt && *params == fp => (
                        body_key(version, &d.master, &f.nonce),
                        primitives::key_check(&d.master, &f.nonce),
                    ),
                    _ => {
                        drop(guard);
                        let master = self.derive(passphrase, &f.salt, &fp)?;
                        let keys = (
                            body_key(version, &master, &f.nonce),
                            primitives::key_check(&master, &f.nonce),
                        );
                        if *params == fp {
                            adopt = Some(master);
                        }
                        keys
                    }
                }
            }
        };
        if !primitives::key_check_matches(&check, &f.key_check) {
            return Err(Error::WrongKey);
        }
        Ok((enc_key, adopt))
    }

    /// Keeps a passphrase master key that has just opened a file, if none is cached yet.
    fn adopt(&self, f: &SealedFields, adopt: Option<Key>) {
        if let (Some(master), Secret::Passphrase { cache, .. }) = (adopt, &self.secret) {
            let mut guard = lock(cache);
            if guard.is_none() {
                *guard = Some(Derived {
                    salt: f.salt,
                    master,
                });
            }
        }
    }
}

/// The key a body is sealed with: `enc_key` in version 1, the per-file `file_key` in version 2.
fn body_key(version: FrameVersion, master: &Key, nonce: &[u8; NONCE_LEN]) -> Key {
    match version {
        FrameVersion::V1 => primitives::enc_key(master),
        FrameVersion::V2 => primitives::file_key(master, nonce),
    }
}

/// Version 1, reader steps 6 and 7: the AEAD over `body` (ciphertext then tag) in place, with
/// the whole header `aad` (header_crc included) as associated data, then the MessagePack body.
fn open_v1(
    enc_key: &Key,
    f: &SealedFields,
    aad: &[u8],
    body: &mut [u8],
    entry_count: u32,
    check_dups: bool,
) -> Result<Vec<PeerEntry>, Error> {
    let (plain, tag) = body.split_at_mut(body.len() - TAG_LEN);
    let tag: [u8; TAG_LEN] = (&*tag).try_into().expect("a 16-byte tag");
    primitives::open_in_place(enc_key, &f.nonce, aad, plain, &tag)?;
    body::decode(plain, entry_count, check_dups)
}

/// Version 2, after the key check: the body's chunk layout, then FORMAT.md's bound of
/// `entry_count` by the plaintext length, before anything is allocated for the entries.
fn v2_decoder(body_len: usize, entry_count: u32) -> Result<compact::Decoder, Error> {
    let (_, plain_len) = stream::layout(body_len)?;
    compact::Decoder::new(entry_count, plain_len)
}

/// Step 4, for a reader with a passphrase: the file's Argon2id costs are at most the
/// reader's ceiling, each of them, so that whoever can write the file cannot make every open
/// cost more than the reader's own policy allows.
fn check_ceiling(file: &KdfParams, ceiling: &KdfParams) -> Result<(), Error> {
    let over = [
        ("m_cost", file.m_cost_kib, ceiling.m_cost_kib, " KiB"),
        ("t_cost", file.t_cost, ceiling.t_cost, ""),
        ("p_cost", file.p_cost, ceiling.p_cost, ""),
    ]
    .into_iter()
    .find(|&(_, found, max, _)| found > max);
    match over {
        Some((name, found, max, unit)) => Err(Error::limit(format!(
            "the file's Argon2id {name} {found}{unit} is over this reader's ceiling of \
             {max}{unit} (its policy's own costs, or the configured ceiling)"
        ))),
        None => Ok(()),
    }
}

/// Step 4 of the reader order: `None` for a raw key, the bounded Argon2id parameters for a
/// passphrase. An unknown `kdf` byte is unsupported (a later version may add a KDF); a raw-key
/// header with nonzero KDF fields is corrupt, because no writer produces one.
pub(crate) fn file_kdf(f: &SealedFields) -> Result<Option<KdfParams>, Error> {
    match f.kdf {
        KDF_RAW => {
            if f.m_cost != 0 || f.t_cost != 0 || f.p_cost != 0 || f.salt != [0; 16] {
                return Err(Error::corrupt(
                    "a key-file sealed header with nonzero Argon2id parameters or salt",
                ));
            }
            Ok(None)
        }
        KDF_ARGON2ID => {
            let params = KdfParams {
                m_cost_kib: f.m_cost,
                t_cost: f.t_cost,
                p_cost: f.p_cost,
            };
            params.check_bounds()?;
            Ok(Some(params))
        }
        other => Err(Error::Unsupported {
            what: format!("kdf byte {other} (this reader knows 0 = key file, 1 = Argon2id)"),
        }),
    }
}

impl Codec for SealedCodec {
    fn kind(&self) -> CodecKind {
        CodecKind::Sealed
    }

    fn encode_into(
        &self,
        realm: &str,
        saved_at: u64,
        entries: &dyn EntrySource,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        out.clear();
        let count = frame::checked_count(realm, entries)?;
        let nonce = primitives::random_nonce()?;
        let (fields, key) = self.seal_material(&nonce)?;
        // One allocation large enough for any body of these entries, sealed: `out` holds
        // plaintext until it is sealed, and a buffer that grew would leave a copy of it in freed
        // memory. The version-1 body's bound also bounds the compact version-2 body (positional
        // fields, binary addresses: never longer).
        let pieces = piece::pieces_of(entries, crate::msgpack::body_encoding(self.version))?;
        let plain_max = match &pieces {
            Some(p) => p.max_len(),
            None => body::max_encoded_len(entries),
        };
        out.reserve(
            frame::header_len(FrameCodec::Sealed, realm.len())
                .saturating_add(stream::sealed_len(plain_max))
                .saturating_add(TAG_LEN),
        );
        frame::write_header(out, self.version, realm, saved_at, count, Some(&fields));
        let h = out.len();
        let encoded = match (&pieces, self.version) {
            // Kept pieces (the msgpack codec's, plaintext): copied once, sealed below in place.
            (Some(p), _) => {
                p.write_binary(out, false);
                Ok(p.count())
            }
            (None, FrameVersion::V1) => body::encode(entries, out),
            (None, FrameVersion::V2) => compact::encode(entries, out),
        };
        drop(pieces);
        if let Err(e) = encoded {
            out.zeroize();
            return Err(e);
        }
        let plain_len = out.len() - h;
        match self.version {
            FrameVersion::V1 => {
                frame::finish_header(out, h, (plain_len + TAG_LEN) as u64);
                // Sealed in place: the plaintext body is encrypted where it was encoded.
                let (head, body) = out.split_at_mut(h);
                match primitives::seal_in_place(&key, &nonce, head, body) {
                    Ok(tag) => out.extend_from_slice(&tag),
                    Err(e) => {
                        out.zeroize();
                        return Err(e);
                    }
                }
            }
            FrameVersion::V2 => {
                frame::finish_header(out, h, stream::sealed_len(plain_len) as u64);
                stream::seal(&ChunkCipher::new(&key), out, h)?;
            }
        }
        check_file_size(out.len() as u64).inspect_err(|_| out.clear())
    }

    fn decode(&self, bytes: &[u8], realm: Option<&str>) -> Result<PeerFile, Error> {
        match crate::detect(bytes)? {
            crate::Format::Sealed => {}
            other => return Err(check::wrong_codec(other, CodecKind::Sealed)),
        }
        let header = frame::parse(bytes)?;
        check::realm(header.realm, realm)?;
        let entries = self.open(bytes, &header, true)?;
        Ok(PeerFile {
            realm: header.realm.to_owned(),
            saved_at: header.saved_at,
            entries,
        })
    }
}
