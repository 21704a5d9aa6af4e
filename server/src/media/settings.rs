//! What the operator may set about media ([`MediaArgs`]: where files are stored, the largest
//! upload, the thumbnails' limits, how long browsers cache a file) and how it is checked into
//! [`MediaSettings`], defaults included.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, DurationArg, at_least_one, layered, longer_than_zero};

layered! {
    /// The media settings (see `crate::config` for how flags, environment and file combine).
    #[derive(Debug, Clone, Default, clap::Args, Deserialize)]
    pub struct MediaArgs {
        /// Folder of uploaded media when `--media-url` is not set; default: `media` under
        /// `--data-dir`.
        #[arg(long, env = "CLASSHUB_MEDIA_DIR")]
        pub media_dir: Option<PathBuf>,
        /// Store media in an S3-compatible bucket instead of a folder: `s3://bucket` or
        /// `s3://bucket/prefix` (credentials, region and endpoint from the standard `AWS_*`
        /// environment variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
        /// `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`), or `memory:` (kept in memory, lost at exit: for
        /// tests and demos).
        #[arg(long, env = "CLASSHUB_MEDIA_URL")]
        pub media_url: Option<String>,
        /// Largest media upload, in bytes; larger: refused with 413 and nothing kept
        /// [default: 104857600].
        #[arg(long, env = "CLASSHUB_MEDIA_MAX_BYTES")]
        pub media_max_bytes: Option<u64>,
        /// Largest image file a thumbnail is made of, in bytes (it is decoded in memory); a larger
        /// image is stored without a thumbnail [default: 20971520].
        #[arg(long, env = "CLASSHUB_MEDIA_THUMBNAIL_MAX_BYTES")]
        pub media_thumbnail_max_bytes: Option<u64>,
        /// Largest image a thumbnail is made of, in pixels (width × height; bounds the memory a
        /// decode may take); a larger image is stored without a thumbnail [default: 40000000].
        #[arg(long, env = "CLASSHUB_MEDIA_THUMBNAIL_MAX_PIXELS")]
        pub media_thumbnail_max_pixels: Option<u64>,
        /// Longest edge of an image's thumbnail, in pixels, 16 to 1024 [default: 256].
        #[arg(long, env = "CLASSHUB_MEDIA_THUMBNAIL_EDGE")]
        pub media_thumbnail_edge: Option<u32>,
        /// Thumbnails decoded at once (each may take up to 8 bytes per pixel of
        /// `--media-thumbnail-max-pixels`); further image uploads wait for a turn [default: 2].
        #[arg(long, env = "CLASSHUB_MEDIA_THUMBNAIL_CONCURRENCY")]
        pub media_thumbnail_concurrency: Option<u32>,
        /// How long browsers may keep a media file without asking again
        /// (`Cache-Control: private, max-age`; a file never changes under its id) [default: 1d].
        #[arg(long, env = "CLASSHUB_MEDIA_CACHE_MAX_AGE")]
        pub media_cache_max_age: Option<DurationArg>,
    }
}

/// Where media files are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaStorage {
    /// A folder on this machine (`LocalFileSystem`).
    Dir(PathBuf),
    /// An S3-compatible bucket (`AmazonS3`), configured from `AWS_*` environment variables.
    S3 {
        /// `s3://bucket`.
        bucket_url: String,
        /// Keys start with this (no leading or trailing `/`; may be empty).
        prefix: String,
    },
    /// In memory (`InMemory`): lost at exit.
    Memory,
}

/// Media's limits and storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSettings {
    /// Where files are kept.
    pub storage: MediaStorage,
    /// Largest upload, in bytes.
    pub max_bytes: u64,
    /// Largest image file a thumbnail is made of, in bytes.
    pub thumbnail_max_bytes: u64,
    /// Largest image a thumbnail is made of, in pixels.
    pub thumbnail_max_pixels: u64,
    /// Longest edge of a thumbnail, in pixels.
    pub thumbnail_edge: u32,
    /// Thumbnails decoded at once.
    pub thumbnail_concurrency: usize,
    /// `Cache-Control: private, max-age` of a media file.
    pub cache_max_age: Duration,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaArgs::default()
            .resolve(Path::new("./classhub-data"))
            .expect("the built-in defaults are valid")
    }
}

impl MediaArgs {
    /// The media settings, checked; `data_dir` places the default folder.
    pub fn resolve(self, data_dir: &Path) -> Result<MediaSettings, ConfigError> {
        let storage = match self.media_url.as_deref().map(str::trim) {
            None | Some("") => {
                MediaStorage::Dir(self.media_dir.unwrap_or_else(|| data_dir.join("media")))
            }
            Some("memory:" | "memory://") => MediaStorage::Memory,
            Some(url) => {
                let rest = url.strip_prefix("s3://").ok_or_else(|| ConfigError::Invalid {
                    key: "media-url",
                    reason: format!(
                        "{url:?} is neither s3://bucket[/prefix] nor memory:; leave it out to store media in --media-dir"
                    ),
                })?;
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(ConfigError::Invalid {
                        key: "media-url",
                        reason: format!("{url:?} names no bucket: write s3://bucket[/prefix]"),
                    });
                }
                MediaStorage::S3 {
                    bucket_url: format!("s3://{bucket}"),
                    prefix: prefix.trim_matches('/').to_owned(),
                }
            }
        };
        let thumbnail_edge = match self.media_thumbnail_edge {
            None => 256,
            Some(edge @ 16..=1024) => edge,
            Some(edge) => {
                return Err(ConfigError::Invalid {
                    key: "media-thumbnail-edge",
                    reason: format!("{edge} is not between 16 and 1024 pixels"),
                });
            }
        };
        Ok(MediaSettings {
            storage,
            max_bytes: at_least_one("media-max-bytes", self.media_max_bytes, 100 << 20)?,
            thumbnail_max_bytes: at_least_one(
                "media-thumbnail-max-bytes",
                self.media_thumbnail_max_bytes,
                20 << 20,
            )?,
            thumbnail_max_pixels: at_least_one(
                "media-thumbnail-max-pixels",
                self.media_thumbnail_max_pixels,
                40_000_000,
            )?,
            thumbnail_edge,
            thumbnail_concurrency: at_least_one(
                "media-thumbnail-concurrency",
                self.media_thumbnail_concurrency,
                2,
            )? as usize,
            cache_max_age: longer_than_zero(
                "media-cache-max-age",
                self.media_cache_max_age,
                Duration::from_secs(24 * 3600),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(url: Option<&str>) -> Result<MediaSettings, ConfigError> {
        MediaArgs {
            media_url: url.map(str::to_owned),
            ..MediaArgs::default()
        }
        .resolve(Path::new("/data"))
    }

    #[test]
    fn storage_is_a_folder_a_bucket_or_memory() {
        assert_eq!(
            resolve(None).unwrap().storage,
            MediaStorage::Dir(PathBuf::from("/data/media"))
        );
        assert_eq!(
            resolve(Some("s3://school-media/classhub/"))
                .unwrap()
                .storage,
            MediaStorage::S3 {
                bucket_url: "s3://school-media".into(),
                prefix: "classhub".into()
            }
        );
        assert_eq!(
            resolve(Some("memory:")).unwrap().storage,
            MediaStorage::Memory
        );
        let wrong = resolve(Some("ftp://x")).unwrap_err().to_string();
        assert!(wrong.contains("media-url"), "{wrong}");
        assert!(resolve(Some("s3:///prefix")).is_err(), "no bucket");
    }

    #[test]
    fn limits_are_checked() {
        let edge = MediaArgs {
            media_thumbnail_edge: Some(4096),
            ..MediaArgs::default()
        }
        .resolve(Path::new("/data"))
        .unwrap_err()
        .to_string();
        assert!(edge.contains("media-thumbnail-edge"), "{edge}");
        let zero = MediaArgs {
            media_max_bytes: Some(0),
            ..MediaArgs::default()
        }
        .resolve(Path::new("/data"))
        .unwrap_err()
        .to_string();
        assert!(zero.contains("media-max-bytes"), "{zero}");
    }
}
