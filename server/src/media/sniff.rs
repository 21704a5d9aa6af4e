//! What a file is, from its first bytes (its magic number), never from its name or the client's
//! `Content-Type`. Only the types media accepts are recognised ([`ACCEPTED`]); anything else is
//! `None` (415). Hand-written signatures, one per type, so the list is exactly what is served.

use image::ImageFormat;

/// Bytes [`sniff`] wants to see (fewer only when the file is shorter).
pub const SNIFF_BYTES: usize = 64;

/// The accepted types, as told to a client whose file is refused.
pub const ACCEPTED: &str = "PNG, JPEG, GIF or WebP images (image/png, image/jpeg, image/gif, \
                            image/webp), MP4 or WebM video (video/mp4, video/webm), MP3, M4A, \
                            Ogg or WAV audio (audio/mpeg, audio/mp4, audio/ogg, audio/wav), PDF \
                            documents (application/pdf)";

/// A recognised file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// For images: the decoder a thumbnail is made with.
    pub image: Option<ImageFormat>,
}

const fn file(content_type: &'static str) -> Option<Sniffed> {
    Some(Sniffed {
        content_type,
        image: None,
    })
}

const fn picture(content_type: &'static str, format: ImageFormat) -> Option<Sniffed> {
    Some(Sniffed {
        content_type,
        image: Some(format),
    })
}

/// ISO base media brands that are still images (HEIF, AVIF), not video.
const IMAGE_BRANDS: [&[u8; 4]; 7] = [
    b"heic", b"heix", b"hevc", b"mif1", b"msf1", b"avif", b"avis",
];

/// The type of a file starting with `head` (its first [`SNIFF_BYTES`] bytes, or all of it).
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    let at = |offset: usize, signature: &[u8]| {
        head.get(offset..offset + signature.len()) == Some(signature)
    };
    if at(0, b"\x89PNG\r\n\x1a\n") {
        picture("image/png", ImageFormat::Png)
    } else if at(0, b"\xff\xd8\xff") {
        picture("image/jpeg", ImageFormat::Jpeg)
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        picture("image/gif", ImageFormat::Gif)
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        picture("image/webp", ImageFormat::WebP)
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        file("audio/wav")
    } else if at(4, b"ftyp") {
        let brand = head.get(8..12)?;
        if IMAGE_BRANDS.iter().any(|image| &image[..] == brand) {
            None
        } else if brand == b"M4A " || brand == b"M4B " {
            file("audio/mp4")
        } else {
            file("video/mp4")
        }
    } else if at(0, b"\x1a\x45\xdf\xa3") {
        // EBML: WebM only (its DocType), not any Matroska file.
        head.windows(4)
            .any(|window| window == b"webm")
            .then_some(())?;
        file("video/webm")
    } else if at(0, b"OggS") {
        file("audio/ogg")
    } else if at(0, b"ID3") || is_mpeg_audio_frame(head) {
        file("audio/mpeg")
    } else if at(0, b"%PDF-") {
        file("application/pdf")
    } else {
        None
    }
}

/// An MPEG audio frame header: 11 sync bits, a valid version and layer, not a free or bad bitrate.
fn is_mpeg_audio_frame(head: &[u8]) -> bool {
    let [first, second, third, ..] = head else {
        return false;
    };
    let version = (second >> 3) & 0b11;
    let layer = (second >> 1) & 0b11;
    let bitrate = third >> 4;
    *first == 0xff && second & 0xe0 == 0xe0 && version != 0b01 && layer != 0 && bitrate != 0b1111
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(head: &[u8], expected: Option<&str>) {
        assert_eq!(
            sniff(head).map(|sniffed| sniffed.content_type),
            expected,
            "{head:?}"
        );
    }

    #[test]
    fn the_first_bytes_name_the_type() {
        check(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some("image/png"));
        check(b"\xff\xd8\xff\xe0\0\x10JFIF", Some("image/jpeg"));
        check(b"GIF89a\x01\0", Some("image/gif"));
        check(b"RIFF\x24\0\0\0WEBPVP8 ", Some("image/webp"));
        check(b"RIFF\x24\0\0\0WAVEfmt ", Some("audio/wav"));
        check(b"\0\0\0\x20ftypisom\0\0\x02\0", Some("video/mp4"));
        check(b"\0\0\0\x20ftypM4A \0\0\x02\0", Some("audio/mp4"));
        check(b"\0\0\0\x18ftypheic\0\0\0\0", None);
        check(
            b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm",
            Some("video/webm"),
        );
        check(
            b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska",
            None,
        );
        check(b"OggS\0\x02", Some("audio/ogg"));
        check(b"ID3\x04\0\0", Some("audio/mpeg"));
        check(b"\xff\xfb\x90\x64", Some("audio/mpeg"));
        check(b"%PDF-1.7\n", Some("application/pdf"));
    }

    #[test]
    fn names_text_and_short_files_are_not_types() {
        check(b"just some text that claims to be a .png", None);
        check(b"<svg xmlns='http://www.w3.org/2000/svg'/>", None);
        check(b"\x89PN", None);
        check(b"", None);
        check(b"\0\0\0\x20ftyp", None);
        check(b"\xff\xff\xff\xff", None);
    }
}
