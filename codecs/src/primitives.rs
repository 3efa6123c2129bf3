//! One-function wrappers, one per primitive the format uses, each documented with its
//! specification (in the manner of age-core's `primitives.rs`). Owns every call into a crypto
//! or checksum crate; must not know the frame layout or the reader order.

use blake2::digest::consts::U32;
use blake2::digest::{KeyInit as _, Mac as _};
use chacha20poly1305::aead::AeadInPlace as _;
use chacha20poly1305::{ChaCha20Poly1305, Nonce, XChaCha20Poly1305, XNonce};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::{Error, Key};

/// Personalisation of `enc_key` (FORMAT.md: 15 bytes, zero-padded to 16 by BLAKE2b).
const ENC_PERSONAL: &[u8; 15] = b"knownpeers.enc1";
/// Personalisation of `key_check`.
const KCV_PERSONAL: &[u8; 15] = b"knownpeers.kcv1";
/// Personalisation of a version-2 sealed file's `file_key`.
const STREAM_PERSONAL: &[u8; 15] = b"knownpeers.str2";

/// Length of an XChaCha20 nonce.
pub(crate) const NONCE_LEN: usize = 24;

/// CRC-32 with the zlib / ISO-HDLC polynomial (ITU-T V.42, as `zlib.crc32`).
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// BLAKE2b (RFC 7693) with a 32-byte digest, keyed with `key`, with an empty salt and the
/// 15-byte `personal` zero-padded to 16, over `message`.
fn blake2b_256_keyed(key: &Key, personal: &[u8; 15], message: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac =
        blake2::Blake2bMac::<U32>::new_with_salt_and_personal(key.expose(), &[], personal)
            .expect("a 32-byte key and a 15-byte personalisation are within BLAKE2b's limits");
    mac.update(message);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// `enc_key` = BLAKE2b-256(key = master, personal = `knownpeers.enc1`, message = empty).
pub(crate) fn enc_key(master: &Key) -> Key {
    let out = blake2b_256_keyed(master, ENC_PERSONAL, &[]);
    Key::from_bytes(*out)
}

/// `key_check` = BLAKE2b-256(key = master, personal = `knownpeers.kcv1`, message = nonce).
/// Not secret (it is stored in the header) but derived from the secret.
pub(crate) fn key_check(master: &Key, nonce: &[u8; NONCE_LEN]) -> [u8; 32] {
    *blake2b_256_keyed(master, KCV_PERSONAL, nonce)
}

/// `file_key` (binary frame version 2) = BLAKE2b-256(key = master, personal = `knownpeers.str2`,
/// message = the header's 24 nonce bytes): a key of its own for every file, since every save
/// draws a fresh nonce.
pub(crate) fn file_key(master: &Key, nonce: &[u8; NONCE_LEN]) -> Key {
    let out = blake2b_256_keyed(master, STREAM_PERSONAL, nonce);
    Key::from_bytes(*out)
}

/// Constant-time equality of two key checks (`subtle`), so that the comparison time tells an
/// attacker nothing about how much of a guess was right.
pub(crate) fn key_check_matches(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// Fresh random bytes from the operating system (getrandom).
pub(crate) fn random_nonce() -> Result<[u8; NONCE_LEN], Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce)
        .map_err(|e| Error::Key(knownpeers_keys::Error::Random(e.to_string())))?;
    Ok(nonce)
}

/// XChaCha20-Poly1305 (RFC 8439 AEAD with the XChaCha20 construction of
/// draft-irtf-cfrg-xchacha): encrypts `buffer` in place under `aad` and returns the 16-byte tag.
pub(crate) fn seal_in_place(
    enc_key: &Key,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
) -> Result<[u8; 16], Error> {
    let cipher = XChaCha20Poly1305::new(enc_key.expose().into());
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(nonce), aad, buffer)
        .map_err(|_| Error::InvalidInput {
            what: "the body is too long to seal".to_string(),
        })?;
    Ok(tag.into())
}

/// The inverse of [`seal_in_place`]: verifies `tag` over `aad` and `buffer`, then decrypts
/// `buffer` in place. A failure says nothing more than "does not authenticate" (RustCrypto's
/// opaque error), and leaves `buffer` undecrypted.
pub(crate) fn open_in_place(
    enc_key: &Key,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8; 16],
) -> Result<(), Error> {
    let cipher = XChaCha20Poly1305::new(enc_key.expose().into());
    cipher
        .decrypt_in_place_detached(XNonce::from_slice(nonce), aad, buffer, tag.into())
        .map_err(|_| {
            Error::corrupt("the sealed body does not authenticate (damaged or tampered file)")
        })
}

/// ChaCha20-Poly1305 (RFC 8439, 12-byte nonce) under one `file_key`, for the chunks of a
/// version-2 sealed body. Built once per file, so the key schedule is not repeated per chunk.
pub(crate) struct ChunkCipher(ChaCha20Poly1305);

impl ChunkCipher {
    pub(crate) fn new(file_key: &Key) -> ChunkCipher {
        ChunkCipher(ChaCha20Poly1305::new(file_key.expose().into()))
    }

    /// Encrypts one chunk in place under `nonce` and `aad`, returning its 16-byte tag.
    pub(crate) fn seal_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; 16], Error> {
        let tag = self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buffer)
            .map_err(|_| Error::InvalidInput {
                what: "a chunk is too long to seal".to_string(),
            })?;
        Ok(tag.into())
    }

    /// Verifies `tag` over `aad` and `buffer`, then decrypts `buffer` in place; on failure
    /// `buffer` is left undecrypted and the error says only that the chunk does not
    /// authenticate (the caller names the chunk).
    pub(crate) fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), ()> {
        self.0
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buffer, tag.into())
            .map_err(|_| ())
    }
}
