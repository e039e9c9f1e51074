//! Lossless metadata stripping (see the guarantees in [`super`]): each format's module
//! says what it keeps, as an allowlist, so that a new kind of metadata is dropped by default.

mod exif;
mod gif;
mod jpeg;
mod png;
mod webp;

use super::ImageFormat;

/// The file without its metadata, for every image and also for one too large to decode
/// whose container still parses: its GPS is never served either. Only the container is
/// rewritten: the coded pixels are copied as they are, the colour profile and the
/// orientation kept. `None` when the container does not parse as `format`.
pub fn strip_metadata(bytes: &[u8], format: ImageFormat) -> Option<Vec<u8>> {
    match format {
        ImageFormat::Jpeg => jpeg::strip(bytes),
        ImageFormat::Png => png::strip(bytes),
        ImageFormat::Gif => gif::strip(bytes),
        ImageFormat::Webp => webp::strip(bytes),
    }
}
