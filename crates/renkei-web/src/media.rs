//! Small previews of attached photos, so a timeline page on a tablet loads kilobytes
//! rather than the camera's megabytes.

use image::codecs::jpeg::JpegEncoder;
use image::{ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Longest side of a preview in pixels (sharp at twice the size it is shown at).
pub const THUMBNAIL_EDGE: u32 = 480;
const THUMBNAIL_QUALITY: u8 = 80;
/// What a photo may need to decode: a 48-megapixel camera image fits, a decompression
/// bomb (a tiny file declaring a gigantic image) does not.
const MAX_EDGE: u32 = 10_000;
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("the image cannot be decoded: {0}")]
    Decode(String),
    #[error("the preview cannot be encoded: {0}")]
    Encode(String),
}

/// A JPEG preview of a JPEG or PNG photo, at most [`THUMBNAIL_EDGE`] pixels a side (never
/// enlarged). CPU-bound: call it off the async workers.
pub fn thumbnail(data: &[u8], format: ImageFormat) -> Result<Vec<u8>, ThumbnailError> {
    let mut reader = ImageReader::with_format(Cursor::new(data), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_EDGE);
    limits.max_image_height = Some(MAX_EDGE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| ThumbnailError::Decode(e.to_string()))?;
    let small = if image.width() > THUMBNAIL_EDGE || image.height() > THUMBNAIL_EDGE {
        image.thumbnail(THUMBNAIL_EDGE, THUMBNAIL_EDGE)
    } else {
        image
    };
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, THUMBNAIL_QUALITY)
        .encode_image(&small.into_rgb8())
        .map_err(|e| ThumbnailError::Encode(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageReader, RgbImage};

    fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let img = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        });
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn size_of(jpeg: &[u8]) -> (u32, u32) {
        ImageReader::with_format(Cursor::new(jpeg), ImageFormat::Jpeg)
            .into_dimensions()
            .unwrap()
    }

    #[test]
    fn large_photos_shrink_keeping_their_shape() {
        let photo = encoded(2000, 1500, ImageFormat::Jpeg);
        let preview = thumbnail(&photo, ImageFormat::Jpeg).unwrap();
        assert_eq!(size_of(&preview), (480, 360));
        assert!(preview.len() < photo.len() / 4);
        let portrait = encoded(600, 1200, ImageFormat::Png);
        assert_eq!(
            size_of(&thumbnail(&portrait, ImageFormat::Png).unwrap()),
            (240, 480)
        );
    }

    #[test]
    fn small_photos_are_not_enlarged_and_garbage_is_refused() {
        let icon = encoded(100, 80, ImageFormat::Png);
        assert_eq!(
            size_of(&thumbnail(&icon, ImageFormat::Png).unwrap()),
            (100, 80)
        );
        assert!(matches!(
            thumbnail(b"\xFF\xD8\xFF\xE0 not really a jpeg", ImageFormat::Jpeg),
            Err(ThumbnailError::Decode(_))
        ));
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_decompression_bomb_is_refused() {
        // A valid PNG header declaring 60,000 × 60,000 pixels.
        let mut png = encoded(1, 1, ImageFormat::Png);
        png[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&60_000u32.to_be_bytes());
        // The chunk's checksum made right again, so only the size can refuse it.
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = thumbnail(&png, ImageFormat::Png).unwrap_err().to_string();
        assert!(err.contains("limit") || err.contains("large"), "{err}");
        assert!(thumbnail(&png, ImageFormat::Png).is_err());
    }
}
