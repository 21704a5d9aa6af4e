//! Thumbnails of uploaded images: decoded with `image` under [`image::Limits`] (the pixel count
//! is checked from the header first, and allocations are bounded), scaled so the longest edge is
//! at most `--media-thumbnail-edge`, and encoded as JPEG (PNG when the image has transparency).
//! CPU-bound: callers run [`make`] on a blocking thread (`spawn_blocking`), never on the async
//! workers.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// A thumbnail and the size of the image it was made from.
#[derive(Debug)]
pub struct Thumbnail {
    /// The encoded thumbnail.
    pub bytes: Vec<u8>,
    /// `image/jpeg` or `image/png`.
    pub content_type: &'static str,
    /// The original's width in pixels.
    pub width: u32,
    /// The original's height in pixels.
    pub height: u32,
}

/// Why no thumbnail was made (the file is stored all the same).
#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    /// More pixels than `--media-thumbnail-max-pixels`.
    #[error("the image is {width}×{height} pixels, more than --media-thumbnail-max-pixels ({max})")]
    TooManyPixels {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The limit.
        max: u64,
    },
    /// The image could not be decoded or the thumbnail encoded.
    #[error("the image could not be read: {0}")]
    Image(#[from] image::ImageError),
}

/// Bytes per pixel the largest decoded form takes (16-bit RGBA).
const BYTES_PER_PIXEL: u64 = 8;

/// A thumbnail of `bytes` (an image of `format`) whose longest edge is at most `edge`, if the
/// image has at most `max_pixels` pixels.
pub fn make(
    bytes: &[u8],
    format: ImageFormat,
    edge: u32,
    max_pixels: u64,
) -> Result<Thumbnail, ThumbnailError> {
    let reader = || ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader().into_dimensions()?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ThumbnailError::TooManyPixels {
            width,
            height,
            max: max_pixels,
        });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(max_pixels.saturating_mul(BYTES_PER_PIXEL));
    let mut decoder = reader();
    decoder.limits(limits);
    let image = decoder.decode()?;
    let small = if width <= edge && height <= edge {
        image
    } else {
        image.thumbnail(edge, edge)
    };
    let mut out = Cursor::new(Vec::new());
    let content_type = if small.color().has_alpha() {
        small.write_to(&mut out, ImageFormat::Png)?;
        "image/png"
    } else {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82);
        DynamicImage::ImageRgb8(small.to_rgb8()).write_with_encoder(encoder)?;
        "image/jpeg"
    };
    Ok(Thumbnail {
        bytes: out.into_inner(),
        content_type,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let image = if alpha {
            DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
                width,
                height,
                image::Rgba([10, 20, 30, 128]),
            ))
        } else {
            DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
                width,
                height,
                image::Rgb([10, 20, 30]),
            ))
        };
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).expect("encode");
        out.into_inner()
    }

    #[test]
    fn thumbnails_keep_the_aspect_and_the_transparency() {
        let thumbnail = make(&png(1000, 500, false), ImageFormat::Png, 256, 1_000_000).unwrap();
        assert_eq!((thumbnail.width, thumbnail.height), (1000, 500));
        assert_eq!(thumbnail.content_type, "image/jpeg");
        let small = image::load_from_memory(&thumbnail.bytes).unwrap();
        assert_eq!((small.width(), small.height()), (256, 128));
        let clear = make(&png(40, 80, true), ImageFormat::Png, 256, 1_000_000).unwrap();
        assert_eq!(clear.content_type, "image/png");
        let small = image::load_from_memory(&clear.bytes).unwrap();
        assert_eq!((small.width(), small.height()), (40, 80), "never enlarged");
    }

    #[test]
    fn too_many_pixels_or_a_broken_file_make_none() {
        let refused = make(&png(300, 300, false), ImageFormat::Png, 256, 50_000).unwrap_err();
        assert!(
            matches!(refused, ThumbnailError::TooManyPixels { .. }),
            "{refused}"
        );
        let mut broken = png(30, 30, false);
        broken.truncate(40);
        assert!(make(&broken, ImageFormat::Png, 256, 1_000_000).is_err());
    }
}
