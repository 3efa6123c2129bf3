//! The `Codec` trait a realm holds, the codec and file types around it. Owns no format, and
//! imports no implementation (they live in `json`, `msgpack` and `sealed`, and import this;
//! choosing one by kind is `choose`'s).

use crate::{EntrySource, Error, PeerEntry};

/// A codec a realm writes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodecKind {
    /// Pretty JSON envelope.
    Json,
    /// Binary frame, MessagePack body, CRC-32.
    Msgpack,
    /// Binary frame, XChaCha20-Poly1305-sealed MessagePack body.
    Sealed,
}

impl CodecKind {
    /// The name configuration and the CLI use (`json`, `msgpack`, `sealed`).
    pub fn as_str(self) -> &'static str {
        match self {
            CodecKind::Json => "json",
            CodecKind::Msgpack => "msgpack",
            CodecKind::Sealed => "sealed",
        }
    }
}

/// A whole decoded (or to-be-encoded) file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerFile {
    /// The realm the file belongs to.
    pub realm: String,
    /// Unix seconds of the save.
    pub saved_at: u64,
    /// The entries, in file order.
    pub entries: Vec<PeerEntry>,
}

/// A file format a realm writes with. Implementations are stateless except for key caches, and
/// safe to share between tasks as `Arc<dyn Codec>`.
///
/// Every encoder checks what a reader would check (realm length, entry limits, unique
/// addresses, entry count, file size), so it never writes a file a reader rejects.
pub trait Codec: Send + Sync + std::fmt::Debug {
    /// Which codec this is.
    fn kind(&self) -> CodecKind;

    /// Appends the whole encoded file to `out` (which is cleared first), reusing its capacity.
    /// On error `out` is left empty.
    fn encode_into(
        &self,
        realm: &str,
        saved_at: u64,
        entries: &dyn EntrySource,
        out: &mut Vec<u8>,
    ) -> Result<(), Error>;

    /// The whole encoded file.
    fn encode(
        &self,
        realm: &str,
        saved_at: u64,
        entries: &dyn EntrySource,
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.encode_into(realm, saved_at, entries, &mut out)?;
        Ok(out)
    }

    /// Decodes a file of this codec's own format, checking its realm when `realm` is given.
    /// A file of another format is [`Error::Unsupported`]; use [`crate::read`] for any format.
    fn decode(&self, bytes: &[u8], realm: Option<&str>) -> Result<crate::PeerFile, Error>;
}
