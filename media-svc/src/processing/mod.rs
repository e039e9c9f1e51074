//! What media-svc does with the bytes of a completed upload (docs/API.md "Attachments"):
//! pure, synchronous functions over bytes in memory, with no I/O, so that the service decides
//! where they run (a blocking pool behind a bounded queue) and the tests and fuzz targets call
//! exactly what ships.
//!
//! What it guarantees:
//! - The type comes from the bytes' own signature ([`sniff`]), never from the client's word or
//!   the file name; only JPEG, PNG, GIF and WebP are images, and only they are shown inline
//!   ([`disposition`]).
//! - A stripped image ([`strip_metadata`], the first step of [`process_image`]) keeps its
//!   pixels byte for byte (no re-encoding), its colour profile and its orientation, and loses
//!   everything else a camera or an editor wrote: EXIF (GPS, camera, EXIF thumbnails), XMP,
//!   IPTC, comments, secondary images and whatever follows the image's end. The allowlists
//!   are in the format's module.
//! - An image is decoded only after its header's dimensions passed [`ImageLimits`], and the
//!   decoder allocates within them too, so a small file that claims a huge canvas costs
//!   nothing.
//! - File names ([`clean_name`]) are safe to show and to put in a header: no path, no control,
//!   bidi or invisible characters.

mod names;
mod process;
mod sniff;
mod strip;
mod variants;

pub use names::{Disposition, MAX_NAME_BYTES, clean_name, content_disposition, disposition};
pub use process::{ImageLimits, ImageRefused, ProcessedImage, process_image};
pub use sniff::{SNIFF_BYTES, Sniffed, sniff};
pub use strip::strip_metadata;
pub use variants::{EncodedVariant, PREVIEW_BOX, THUMBHASH_BOX, THUMBNAIL_BOX};

/// The image formats Parley decodes, strips and makes variants of; anything else is a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
}

impl ImageFormat {
    pub const ALL: [ImageFormat; 4] = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Gif,
        ImageFormat::Webp,
    ];

    /// Its MIME type, as served and as `sniff` names it.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
        }
    }

    /// The format a MIME type names, parameters and case ignored.
    pub fn from_mime(mime: &str) -> Option<Self> {
        let essence = mime.split(';').next().unwrap_or_default().trim();
        Self::ALL
            .into_iter()
            .find(|format| format.mime().eq_ignore_ascii_case(essence))
    }

    fn codec(self) -> image::ImageFormat {
        match self {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::Gif => image::ImageFormat::Gif,
            ImageFormat::Webp => image::ImageFormat::WebP,
        }
    }
}
