//! The STREAM layout of a version-2 sealed body (FORMAT.md "Sealed body (codec 2): STREAM"):
//! 64 KiB plaintext chunks, each sealed with ChaCha20-Poly1305 under the file's key with a
//! counter-and-final-flag nonce, as age's STREAM does. Owns the chunk arithmetic, sealing a
//! body in place and opening it chunk by chunk into a [`Decoder`]; must not derive keys, parse
//! headers or look inside the plaintext beyond handing it to the decoder.
//!
//! Every chunk is sealed and opened on its own while it sits in cache (the cipher pass and the
//! MAC pass over 64 KiB), and a load never holds the whole plaintext beside the whole
//! ciphertext: opened in place, the plaintext replaces the ciphertext; opened from a borrowed
//! file, only one chunk and the entry that spans into the next are held in plaintext.

use zeroize::{Zeroize as _, Zeroizing};

use crate::compact::Decoder;
use crate::frame::TAG_LEN;
use crate::primitives::ChunkCipher;
use crate::Error;

/// Plaintext bytes in every chunk but the last.
pub(crate) const CHUNK_LEN: usize = 64 * 1024;
/// A full chunk on disk: its ciphertext and its tag.
pub(crate) const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;

/// The 12-byte nonce of chunk `index`: the index as an 11-byte big-endian integer, then 1 for
/// the last chunk and 0 for every other.
fn nonce(index: usize, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&(index as u64).to_be_bytes());
    n[11] = u8::from(last);
    n
}

/// Number of chunks of a plaintext of `plain_len` bytes (one, empty, when it is empty).
fn chunks_for(plain_len: usize) -> usize {
    plain_len.div_ceil(CHUNK_LEN).max(1)
}

/// `body_len` of a sealed body whose plaintext is `plain_len` bytes.
pub(crate) fn sealed_len(plain_len: usize) -> usize {
    plain_len + TAG_LEN * chunks_for(plain_len)
}

/// The shape a sealed body of `body_len` bytes must have: its chunk count and plaintext
/// length. Corrupt when the last chunk is shorter than a tag, or is empty although it is not
/// the only one (no writer cuts a plaintext that way).
pub(crate) fn layout(body_len: usize) -> Result<(usize, usize), Error> {
    let chunks = body_len.div_ceil(SEALED_CHUNK_LEN).max(1);
    let last = body_len - (chunks - 1) * SEALED_CHUNK_LEN;
    if last < TAG_LEN {
        return Err(Error::corrupt(
            "the sealed body ends inside a chunk's tag (truncated or damaged)",
        ));
    }
    if last == TAG_LEN && chunks > 1 {
        return Err(Error::corrupt(
            "the sealed body ends with an empty chunk after full ones (damaged or tampered)",
        ));
    }
    Ok((chunks, body_len - chunks * TAG_LEN))
}

/// Seals the plaintext at `out[h..]` in place: `out` grows to `h` + [`sealed_len`], each chunk
/// moves to its place (last chunk first, so no unsealed byte is overwritten) and is sealed
/// there while in cache, with `out[..h]`, the finished header, as associated data. On error
/// `out` is zeroized.
pub(crate) fn seal(cipher: &ChunkCipher, out: &mut Vec<u8>, h: usize) -> Result<(), Error> {
    let plain_len = out.len() - h;
    let chunks = chunks_for(plain_len);
    grow_zeroizing(out, h + sealed_len(plain_len));
    let (aad, body) = out.split_at_mut(h);
    for index in (0..chunks).rev() {
        let from = index * CHUNK_LEN;
        let len = CHUNK_LEN.min(plain_len - from);
        let to = index * SEALED_CHUNK_LEN;
        body.copy_within(from..from + len, to);
        match cipher.seal_in_place(
            &nonce(index, index + 1 == chunks),
            aad,
            &mut body[to..to + len],
        ) {
            Ok(tag) => body[to + len..to + len + TAG_LEN].copy_from_slice(&tag),
            Err(e) => {
                out.zeroize();
                out.clear();
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Resizes `out` to `len` (zero-filled), moving it into a new allocation by hand when it must
/// grow, so the old one is zeroized rather than freed with plaintext in it.
fn grow_zeroizing(out: &mut Vec<u8>, len: usize) {
    if out.capacity() < len {
        let mut bigger = Vec::with_capacity(len);
        bigger.extend_from_slice(out);
        out.zeroize();
        *out = bigger;
    }
    out.resize(len, 0);
}

/// Opens chunk `index` of `chunks` in place. A failure is corrupt; where a nonce with the other
/// final flag would open it, the error says what happened to the file's end (a missing final
/// chunk, or data after it), which costs a second MAC only on a file that is already bad.
fn open_chunk(
    cipher: &ChunkCipher,
    index: usize,
    chunks: usize,
    aad: &[u8],
    sealed: &mut [u8],
) -> Result<usize, Error> {
    let len = sealed.len() - TAG_LEN;
    let (text, tag) = sealed.split_at_mut(len);
    let tag: [u8; TAG_LEN] = (&*tag).try_into().expect("a 16-byte tag");
    let last = index + 1 == chunks;
    if cipher
        .open_in_place(&nonce(index, last), aad, text, &tag)
        .is_ok()
    {
        return Ok(len);
    }
    let flipped = cipher
        .open_in_place(&nonce(index, !last), aad, text, &tag)
        .is_ok();
    if flipped {
        text.zeroize();
    }
    Err(Error::corrupt(match (flipped, last) {
        (true, true) => "the sealed body ends after a chunk sealed as not the last one \
                         (truncated or tampered file)"
            .to_string(),
        (true, false) => format!(
            "chunk {index} of the sealed body is sealed as the last one, but data follows it \
             (appended or tampered file)"
        ),
        (false, _) => format!(
            "chunk {index} of the sealed body does not authenticate (damaged, reordered or \
             tampered file)"
        ),
    }))
}

/// Opens the sealed `body` in place, chunk by chunk, moving each chunk's plaintext down to
/// follow the previous one's (a copy within cache) and feeding `decoder` as it goes. The
/// caller zeroizes `body`, which ends up holding plaintext.
pub(crate) fn open_in_place(
    cipher: &ChunkCipher,
    aad: &[u8],
    body: &mut [u8],
    decoder: &mut Decoder,
) -> Result<(), Error> {
    let (chunks, _) = layout(body.len())?;
    let (mut plain_end, mut parsed) = (0, 0);
    for index in 0..chunks {
        let at = index * SEALED_CHUNK_LEN;
        let end = body.len().min(at + SEALED_CHUNK_LEN);
        let len = open_chunk(cipher, index, chunks, aad, &mut body[at..end])?;
        body.copy_within(at..at + len, plain_end);
        plain_end += len;
        parsed += decoder.feed(&body[parsed..plain_end], index + 1 == chunks)?;
    }
    Ok(())
}

/// Opens the sealed `body` of a borrowed file chunk by chunk: each chunk is copied after the
/// unparsed rest of the previous one into a window that zeroizes itself, opened there and fed
/// to `decoder`. The window holds about one chunk, whatever the file's size.
pub(crate) fn open_copy(
    cipher: &ChunkCipher,
    aad: &[u8],
    body: &[u8],
    decoder: &mut Decoder,
) -> Result<(), Error> {
    let (chunks, _) = layout(body.len())?;
    let mut window = Zeroizing::new(Vec::with_capacity(2 * SEALED_CHUNK_LEN));
    for index in 0..chunks {
        let at = index * SEALED_CHUNK_LEN;
        let sealed = &body[at..body.len().min(at + SEALED_CHUNK_LEN)];
        let start = window.len();
        if window.capacity() < start + sealed.len() {
            let mut bigger = Vec::with_capacity(2 * (start + sealed.len()));
            bigger.extend_from_slice(&window);
            // The old allocation is zeroized as it goes.
            drop(Zeroizing::new(std::mem::replace(&mut *window, bigger)));
        }
        window.extend_from_slice(sealed);
        let len = open_chunk(cipher, index, chunks, aad, &mut window[start..])?;
        window.truncate(start + len);
        let used = decoder.feed(&window, index + 1 == chunks)?;
        window.drain(..used);
    }
    Ok(())
}
