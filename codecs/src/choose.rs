//! Choosing a plaintext codec by kind and binary frame version, for a realm's policy. Sits
//! above the codec implementations and is imported by none of them.

use std::sync::Arc;

use crate::{Codec, CodecKind, FrameVersion, JsonCodec, MsgpackCodec};

/// The codec of `kind` for a plaintext realm, writing the latest binary frame version
/// (`Sealed` needs a key: use [`crate::SealedCodec`]).
pub fn plaintext_codec(kind: CodecKind) -> Option<Arc<dyn Codec>> {
    plaintext_codec_with_version(kind, FrameVersion::LATEST)
}

/// The codec of `kind` for a plaintext realm, writing binary frame version `version` (the JSON
/// envelope has no frame version and ignores it). `Sealed` needs a key: use
/// [`crate::SealedCodec::with_frame_version`].
pub fn plaintext_codec_with_version(
    kind: CodecKind,
    version: FrameVersion,
) -> Option<Arc<dyn Codec>> {
    match kind {
        CodecKind::Json => Some(Arc::new(JsonCodec)),
        CodecKind::Msgpack => Some(Arc::new(MsgpackCodec::with_frame_version(version))),
        CodecKind::Sealed => None,
    }
}
