//! MLLP (Minimal Lower Layer Protocol) framing: `VT message FS CR`.
//!
//! [`MllpCodec`] is a `tokio_util::codec` decoder/encoder. It is byte-level:
//! frames are raw bytes, to be decoded with [`crate::encoding::decode`]
//! (framing bytes 0x0B/0x1C/0x0D cannot occur inside ISO-2022-JP, Shift_JIS,
//! EUC-JP or UTF-8 multi-byte sequences, so framing before decoding is safe).
//!
//! Robustness rules, because peers are hospital gateways of every vintage:
//! - a frame larger than the configured maximum is an error, detected while
//!   it is still arriving, so memory stays bounded;
//! - bytes outside frames (stray CR/LF after FS, garbage) are skipped and
//!   counted;
//! - a VT inside a frame means the previous frame was abandoned: its bytes
//!   are dropped (counted) and the new frame is read;
//! - FS not followed by CR still ends the frame (counted), since some senders
//!   omit the CR.

use std::io;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_util::codec::{Decoder, Encoder};

/// Start-of-block byte (vertical tab).
pub const START_BLOCK: u8 = 0x0B;
/// End-of-block byte (file separator).
pub const END_BLOCK: u8 = 0x1C;
/// Carriage return that follows the end-of-block byte.
pub const CARRIAGE_RETURN: u8 = 0x0D;

/// Default maximum payload size: 1 MiB, far above any vital-signs or
/// SS-MIX2 message but small enough that a flood cannot exhaust memory.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1024 * 1024;

/// MLLP framing and transport errors.
#[derive(Debug, Error)]
pub enum MllpError {
    /// Socket error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// A frame (payload) is longer than the configured maximum.
    #[error("MLLP frame exceeds the maximum of {max} bytes ({len} bytes without an end block)")]
    FrameTooLarge {
        /// Payload bytes seen so far.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside an MLLP frame ({buffered} bytes without an end block)")]
    IncompleteFrame {
        /// Payload bytes of the unterminated frame.
        buffered: usize,
    },
    /// A payload to send contains a framing byte, which would corrupt the stream.
    #[error("payload contains MLLP framing byte 0x{byte:02X} at offset {offset}")]
    InvalidPayload {
        /// The framing byte.
        byte: u8,
        /// Its offset in the payload.
        offset: usize,
    },
    /// The peer closed the connection before sending a frame.
    #[error("connection closed before a response frame arrived")]
    ConnectionClosed,
    /// No response frame within the timeout.
    #[error("no MLLP response within {0:?}")]
    Timeout(Duration),
}

/// MLLP codec with a maximum frame size and counters for tolerated problems.
#[derive(Debug, Clone)]
pub struct MllpCodec {
    max_frame_len: usize,
    /// How far past the start block the buffer was already searched.
    scanned: usize,
    skipped_bytes: u64,
    skip_events: u64,
    missing_cr: u64,
}

impl Default for MllpCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl MllpCodec {
    /// A codec accepting payloads of at most `max_frame_len` bytes.
    pub fn new(max_frame_len: usize) -> Self {
        MllpCodec {
            max_frame_len,
            scanned: 0,
            skipped_bytes: 0,
            skip_events: 0,
            missing_cr: 0,
        }
    }

    /// The configured maximum payload size.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Bytes discarded outside frames or from abandoned frames.
    pub fn skipped_bytes(&self) -> u64 {
        self.skipped_bytes
    }

    /// How many times bytes were discarded (a count of warnings to log).
    pub fn skip_events(&self) -> u64 {
        self.skip_events
    }

    /// Frames whose FS was not followed by CR.
    pub fn frames_without_cr(&self) -> u64 {
        self.missing_cr
    }

    fn skip(&mut self, buf: &mut BytesMut, n: usize) {
        if n > 0 {
            buf.advance(n);
            self.skipped_bytes += n as u64;
            self.skip_events += 1;
        }
        self.scanned = 0;
    }
}

impl Decoder for MllpCodec {
    type Item = Bytes;
    type Error = MllpError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, MllpError> {
        loop {
            // Align the buffer on a start block.
            if buf.first() != Some(&START_BLOCK) {
                match buf.iter().position(|&b| b == START_BLOCK) {
                    Some(p) => self.skip(buf, p),
                    None => {
                        let n = buf.len();
                        self.skip(buf, n);
                        return Ok(None);
                    }
                }
            }
            let from = self.scanned.max(1);
            let found = buf[from..]
                .iter()
                .position(|&b| b == END_BLOCK || b == START_BLOCK)
                .map(|p| p + from);
            match found {
                Some(i) if buf[i] == START_BLOCK => {
                    // A new frame starts before the current one ended.
                    self.skip(buf, i);
                    continue;
                }
                Some(i) => {
                    let payload_len = i - 1;
                    if payload_len > self.max_frame_len {
                        let max = self.max_frame_len;
                        self.skip(buf, i + 1);
                        return Err(MllpError::FrameTooLarge {
                            len: payload_len,
                            max,
                        });
                    }
                    let end = match buf.get(i + 1) {
                        None => {
                            // Wait for the CR (or the next byte) after FS.
                            self.scanned = i;
                            return Ok(None);
                        }
                        Some(&CARRIAGE_RETURN) => i + 2,
                        Some(_) => {
                            self.missing_cr += 1;
                            i + 1
                        }
                    };
                    let mut frame = buf.split_to(end);
                    frame.truncate(i);
                    frame.advance(1);
                    self.scanned = 0;
                    return Ok(Some(frame.freeze()));
                }
                None => {
                    let payload_len = buf.len() - 1;
                    if payload_len > self.max_frame_len {
                        let max = self.max_frame_len;
                        // Drop what we have; later bytes of this frame are skipped as junk.
                        let n = buf.len();
                        self.skip(buf, n);
                        return Err(MllpError::FrameTooLarge {
                            len: payload_len,
                            max,
                        });
                    }
                    self.scanned = buf.len();
                    return Ok(None);
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, MllpError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        if buf.is_empty() {
            return Ok(None);
        }
        // A frame ending in FS with its CR lost to the closed connection is complete.
        if buf.last() == Some(&END_BLOCK) {
            let mut frame = buf.split();
            frame.truncate(frame.len() - 1);
            frame.advance(1);
            self.scanned = 0;
            self.missing_cr += 1;
            return Ok(Some(frame.freeze()));
        }
        let buffered = buf.len() - 1;
        let n = buf.len();
        self.skip(buf, n);
        Err(MllpError::IncompleteFrame { buffered })
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for MllpCodec {
    type Error = MllpError;

    fn encode(&mut self, item: T, dst: &mut BytesMut) -> Result<(), MllpError> {
        let payload = item.as_ref();
        if payload.len() > self.max_frame_len {
            return Err(MllpError::FrameTooLarge {
                len: payload.len(),
                max: self.max_frame_len,
            });
        }
        if let Some(offset) = payload
            .iter()
            .position(|&b| b == START_BLOCK || b == END_BLOCK)
        {
            return Err(MllpError::InvalidPayload {
                byte: payload[offset],
                offset,
            });
        }
        dst.reserve(payload.len() + 3);
        dst.put_u8(START_BLOCK);
        dst.put_slice(payload);
        dst.put_u8(END_BLOCK);
        dst.put_u8(CARRIAGE_RETURN);
        Ok(())
    }
}

/// Wraps a payload in an MLLP frame (`VT payload FS CR`).
pub fn frame(payload: &[u8]) -> Result<Vec<u8>, MllpError> {
    let mut buf = BytesMut::with_capacity(payload.len() + 3);
    MllpCodec::new(usize::MAX).encode(payload, &mut buf)?;
    Ok(buf.to_vec())
}

/// Options for [`send_and_receive_with`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Time allowed for connect + send + response.
    pub timeout: Duration,
    /// Largest response payload accepted.
    pub max_frame_len: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
        }
    }
}

/// Connects, sends one framed message and returns the payload of the first
/// frame received (normally the ACK). 30-second timeout.
pub async fn send_and_receive(
    addr: impl ToSocketAddrs,
    message: &[u8],
) -> Result<Bytes, MllpError> {
    send_and_receive_with(addr, message, &ClientOptions::default()).await
}

/// [`send_and_receive`] with explicit options.
pub async fn send_and_receive_with(
    addr: impl ToSocketAddrs,
    message: &[u8],
    options: &ClientOptions,
) -> Result<Bytes, MllpError> {
    let work = async {
        let out = frame(message)?;
        let mut codec = MllpCodec::new(options.max_frame_len);
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(&out).await?;
        stream.flush().await?;
        let mut buf = BytesMut::with_capacity(4096);
        loop {
            if let Some(frame) = codec.decode(&mut buf)? {
                return Ok(frame);
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return match codec.decode_eof(&mut buf)? {
                    Some(frame) => Ok(frame),
                    None => Err(MllpError::ConnectionClosed),
                };
            }
        }
    };
    tokio::time::timeout(options.timeout, work)
        .await
        .map_err(|_| MllpError::Timeout(options.timeout))?
}

/// A client connection that stays open for many messages, each answered by one
/// frame (the ACK) before the next is sent — how monitor gateways and interface engines
/// talk MLLP. The connection is closed on any error; make a new one to retry.
///
/// The stream is a plain TCP connection ([`MllpConnection::connect`]) or anything else
/// that reads and writes bytes — a TLS session set up by the caller
/// ([`MllpConnection::over`]), so this crate needs no TLS library.
pub struct MllpConnection<S = TcpStream> {
    stream: S,
    codec: MllpCodec,
    buf: BytesMut,
    timeout: Duration,
}

impl MllpConnection<TcpStream> {
    /// Connects to `addr` over plain TCP.
    pub async fn connect(
        addr: impl ToSocketAddrs,
        options: &ClientOptions,
    ) -> Result<MllpConnection<TcpStream>, MllpError> {
        let stream = tokio::time::timeout(options.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| MllpError::Timeout(options.timeout))??;
        stream.set_nodelay(true)?;
        Ok(MllpConnection::over(stream, options))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> MllpConnection<S> {
    /// Talks MLLP over an established stream.
    pub fn over(stream: S, options: &ClientOptions) -> MllpConnection<S> {
        MllpConnection {
            stream,
            codec: MllpCodec::new(options.max_frame_len),
            buf: BytesMut::with_capacity(4096),
            timeout: options.timeout,
        }
    }

    /// Sends one message and waits for the answering frame.
    pub async fn exchange(&mut self, message: &[u8]) -> Result<Bytes, MllpError> {
        let out = frame(message)?;
        let work = async {
            self.stream.write_all(&out).await?;
            loop {
                if let Some(frame) = self.codec.decode(&mut self.buf)? {
                    return Ok(frame);
                }
                if self.stream.read_buf(&mut self.buf).await? == 0 {
                    return Err(MllpError::ConnectionClosed);
                }
            }
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| MllpError::Timeout(self.timeout))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut MllpCodec, chunks: &[&[u8]]) -> Vec<Bytes> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        out
    }

    #[test]
    fn single_frame() {
        let mut c = MllpCodec::default();
        let frames = decode_all(&mut c, &[b"\x0bMSH|a\x1c\r"]);
        assert_eq!(frames, vec![Bytes::from_static(b"MSH|a")]);
        assert_eq!(c.skipped_bytes(), 0);
    }

    #[test]
    fn partial_frame_waits() {
        let mut c = MllpCodec::default();
        let mut buf = BytesMut::from(&b"\x0bMSH|"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"a\x1c");
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\r\x0bMSH|b");
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"MSH|a"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b"\x0bMSH|b");
    }

    #[test]
    fn junk_is_skipped_and_counted() {
        let mut c = MllpCodec::default();
        let frames = decode_all(&mut c, &[b"xx\r\n\x0bA\x1c\r\r\n\x0bB\x1c\rtrailing"]);
        assert_eq!(
            frames,
            vec![Bytes::from_static(b"A"), Bytes::from_static(b"B")]
        );
        assert_eq!(c.skipped_bytes(), 4 + 2 + 8);
        assert_eq!(c.skip_events(), 3);
    }

    #[test]
    fn abandoned_frame_and_missing_cr() {
        let mut c = MllpCodec::default();
        let frames = decode_all(&mut c, &[b"\x0bhalf\x0bwhole\x1c\x0bnext\x1c\r"]);
        assert_eq!(
            frames,
            vec![Bytes::from_static(b"whole"), Bytes::from_static(b"next")]
        );
        assert_eq!(c.skipped_bytes(), 5);
        assert_eq!(c.frames_without_cr(), 1);
    }

    #[test]
    fn oversized_frame_is_an_error_not_memory() {
        let mut c = MllpCodec::new(8);
        let mut buf = BytesMut::from(&b"\x0b12345678"[..]);
        assert_eq!(c.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"9");
        let err = c.decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, MllpError::FrameTooLarge { len: 9, max: 8 }),
            "{err}"
        );
        assert!(buf.is_empty());
        // Complete but too large is also rejected.
        let mut c = MllpCodec::new(3);
        let mut buf = BytesMut::from(&b"\x0b1234\x1c\r\x0bok\x1c\r"[..]);
        assert!(matches!(
            c.decode(&mut buf).unwrap_err(),
            MllpError::FrameTooLarge { len: 4, max: 3 }
        ));
        assert_eq!(c.decode(&mut buf).unwrap().unwrap(), &b"ok"[..]);
    }

    #[test]
    fn eof_handling() {
        let mut c = MllpCodec::default();
        let mut buf = BytesMut::from(&b"\x0bpartial"[..]);
        assert!(matches!(
            c.decode_eof(&mut buf).unwrap_err(),
            MllpError::IncompleteFrame { buffered: 7 }
        ));
        let mut buf = BytesMut::from(&b"\x0bdone\x1c"[..]);
        assert_eq!(c.decode_eof(&mut buf).unwrap().unwrap(), &b"done"[..]);
        let mut buf = BytesMut::from(&b"\r\n"[..]);
        assert_eq!(c.decode_eof(&mut buf).unwrap(), None);
    }

    #[test]
    fn encoder_frames_and_validates() {
        let mut c = MllpCodec::new(10);
        let mut dst = BytesMut::new();
        c.encode(b"MSH|x".as_slice(), &mut dst).unwrap();
        assert_eq!(&dst[..], b"\x0bMSH|x\x1c\r");
        assert!(matches!(
            c.encode(b"a\x1cb".as_slice(), &mut dst).unwrap_err(),
            MllpError::InvalidPayload {
                byte: 0x1c,
                offset: 1
            }
        ));
        assert!(matches!(
            c.encode(vec![b'a'; 11], &mut dst).unwrap_err(),
            MllpError::FrameTooLarge { len: 11, max: 10 }
        ));
        assert_eq!(frame(b"A").unwrap(), b"\x0bA\x1c\r");
    }
}
