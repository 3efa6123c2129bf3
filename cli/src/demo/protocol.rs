//! The demo's wire protocol: frames of a 4-byte big-endian length followed by one JSON message,
//! at most [`MAX_FRAME`] bytes. It owns the message set and the framing; it must not know about
//! stores, realms' policy or connection management (that is `node`'s job).
//!
//! The messages: `HELLO` (both ends, first frame each way), `REFUSE` (the acceptor's answer to a
//! HELLO it will not take, e.g. from another realm), `PEER_REQUEST`, and `PEER_LIST`.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame body accepted or sent. A length prefix above it ends the connection before
/// anything is allocated, so a peer cannot make a node buffer unbounded data.
pub(crate) const MAX_FRAME: usize = 64 * 1024;

/// Most addresses one PEER_LIST carries (the sender truncates, the receiver ignores the rest).
pub(crate) const MAX_LIST: usize = 64;

/// A node's introduction. The dialer sends it first; the acceptor answers with its own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Hello {
    /// The sender's node id.
    pub node_id: String,
    /// The sender's realm code; a node refuses a HELLO from another realm.
    pub realm: String,
    /// Where the sender accepts connections (not the ephemeral port of this connection).
    pub listen_addr: SocketAddr,
    /// What the sender offers.
    pub capabilities: Vec<String>,
    /// Set only by an acceptor that will not keep the link (it is at capacity, or already
    /// linked to the dialer): it answers one PEER_REQUEST, then closes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub full: bool,
}

/// One frame's message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Message {
    /// See [`Hello`].
    Hello(Hello),
    /// The acceptor will not talk to this dialer (the reason is for people, not for code).
    Refuse {
        /// Why.
        reason: String,
    },
    /// Asks the other end for a PEER_LIST.
    PeerRequest,
    /// Addresses the sender knows.
    PeerList {
        /// At most [`MAX_LIST`] listen addresses.
        addrs: Vec<SocketAddr>,
    },
}

/// What can go wrong reading or writing a frame.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProtoError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The peer closed the connection inside a frame.
    #[error("connection closed inside a frame")]
    Truncated,
    /// The length prefix is above [`MAX_FRAME`].
    #[error("frame of {len} bytes is over the {MAX_FRAME}-byte limit")]
    TooLarge {
        /// The announced length.
        len: usize,
    },
    /// The body is not a message of this protocol.
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Writes one message as a frame.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &Message,
) -> Result<(), ProtoError> {
    let body = serde_json::to_vec(msg).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(ProtoError::TooLarge { len: body.len() });
    }
    let len = u32::try_from(body.len()).expect("MAX_FRAME fits in u32");
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    w.write_all(&frame).await?;
    w.flush().await?;
    Ok(())
}

/// Reads frames from one connection, keeping partial input between calls.
///
/// Invariant: [`FrameReader::next`] is cancel safe. Its only await is a single `read` (which
/// either moved bytes into `buf` or did not), and all state lives in `self`, so it can sit in a
/// `tokio::select!` beside timers without losing a frame.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    /// The next message.
    pub(crate) async fn next<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Message, ProtoError> {
        loop {
            if let Some(msg) = self.take_frame()? {
                return Ok(msg);
            }
            let mut chunk = [0u8; 4096];
            let n = r.read(&mut chunk).await?;
            if n == 0 {
                return Err(if self.buf.is_empty() {
                    ProtoError::Closed
                } else {
                    ProtoError::Truncated
                });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A whole frame from the buffer, if one is there; checks the length before waiting for
    /// the body.
    fn take_frame(&mut self) -> Result<Option<Message>, ProtoError> {
        let Some(prefix) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(prefix.try_into().expect("a 4-byte slice")) as usize;
        if len > MAX_FRAME {
            return Err(ProtoError::TooLarge { len });
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let parsed = serde_json::from_slice(&self.buf[4..4 + len])
            .map_err(|e| ProtoError::Malformed(e.to_string()));
        self.buf.drain(..4 + len);
        parsed.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(full: bool) -> Message {
        Message::Hello(Hello {
            node_id: "main-001".into(),
            realm: "demo-main".into(),
            listen_addr: "127.0.0.1:4000".parse().expect("literal"),
            capabilities: vec!["gossip".into()],
            full,
        })
    }

    /// Writes `msgs` as frames, appends `extra` raw bytes, and reads back until an error.
    fn check(msgs: &[Message], extra: &[u8], expected_err: &str) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut wire = Vec::new();
            for m in msgs {
                write_frame(&mut wire, m).await.expect("write");
            }
            wire.extend_from_slice(extra);
            let mut rd = &wire[..];
            let mut fr = FrameReader::default();
            for m in msgs {
                assert_eq!(&fr.next(&mut rd).await.expect("a frame"), m);
            }
            let err = fr.next(&mut rd).await.expect_err("input ends in an error");
            assert!(
                err.to_string().contains(expected_err),
                "{err} should contain {expected_err:?}"
            );
        });
    }

    #[test]
    fn roundtrips_and_errors() {
        let list = Message::PeerList {
            addrs: vec!["127.0.0.1:1".parse().expect("literal")],
        };
        let refuse = Message::Refuse {
            reason: "realm mismatch".into(),
        };
        check(&[], b"", "connection closed");
        check(&[hello(false)], b"", "connection closed");
        check(
            &[hello(true), Message::PeerRequest, list, refuse],
            b"",
            "closed",
        );
        check(&[hello(false)], &[0, 0], "inside a frame");
        check(&[], &[0, 0, 0, 5, b'{'], "inside a frame");
        check(&[], &[0x7f, 0xff, 0xff, 0xff], "over the 65536-byte limit");
        check(&[], &[0, 1, 0, 1], "over the 65536-byte limit");
        check(&[], &[0, 0, 0, 2, b'{', b'}'], "malformed");
        check(&[], b"\0\0\0\x0f{\"type\":\"NOPE\"}", "malformed");
        check(&[], b"\0\0\0\x03[1]", "malformed");
    }

    #[test]
    fn hello_omits_full_unless_set() {
        let plain = serde_json::to_string(&hello(false)).expect("serializes");
        assert!(!plain.contains("full"), "{plain}");
        assert!(plain.contains("\"type\":\"HELLO\""), "{plain}");
        let full = serde_json::to_string(&hello(true)).expect("serializes");
        assert!(full.contains("\"full\":true"), "{full}");
    }

    #[test]
    fn oversize_message_is_not_sent() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let huge = Message::Refuse {
            reason: "x".repeat(MAX_FRAME),
        };
        let mut wire = Vec::new();
        let err = rt
            .block_on(write_frame(&mut wire, &huge))
            .expect_err("too large");
        assert!(matches!(err, ProtoError::TooLarge { .. }));
        assert!(wire.is_empty());
    }
}
