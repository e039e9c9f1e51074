//! From the bytes of an uploaded image to what is stored and served: the stripped original,
//! its display dimensions, its variants and its placeholder (docs/API.md "Attachments").

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, metadata::Orientation};

use super::{ImageFormat, strip_metadata, variants};

pub use super::variants::EncodedVariant;

/// What an image may be and cost before Parley decodes it; beyond these it is stored as a
/// file (stripped all the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Pixels of the canvas, as the header states them.
    pub max_pixels: u64,
    /// Longest side, in pixels.
    pub max_side: u32,
    /// Bytes the decoder may allocate, the decoded pixels included. Making the variants needs
    /// about as much again on top.
    pub max_alloc_bytes: u64,
}

impl Default for ImageLimits {
    /// 64 megapixels, 16384 on a side, 512 MiB: a 48 MP phone photo decodes, a 1 kB file
    /// that claims to be 100 000 × 100 000 does not.
    fn default() -> Self {
        ImageLimits {
            max_pixels: 64_000_000,
            max_side: 16_384,
            max_alloc_bytes: 512 * 1024 * 1024,
        }
    }
}

/// An image ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedImage {
    /// The stripped file, served as the original.
    pub original: Vec<u8>,
    pub mime: &'static str,
    /// Display dimensions: after the EXIF orientation, as viewers show the original.
    pub width: u32,
    pub height: u32,
    /// Fits [`variants::THUMBNAIL_BOX`]; `None` when the image already fits (never upscaled:
    /// the original serves).
    pub thumbnail: Option<EncodedVariant>,
    /// Fits [`variants::PREVIEW_BOX`]; `None` when the image already fits.
    pub preview: Option<EncodedVariant>,
    /// A ThumbHash (about 25 bytes) that clients render as a blurred placeholder.
    pub thumbhash: Vec<u8>,
}

/// Why an image is not processed; either way the service keeps it as a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefused {
    /// Beyond [`ImageLimits`]; the dimensions are the header's (before orientation).
    #[error("{width}×{height} pixels is beyond the image limits")]
    TooLarge { width: u32, height: u32 },
    /// The bytes are not a valid image of that format (or a variant could not be made from
    /// them); the message says what failed.
    #[error("not a decodable image: {0}")]
    Undecodable(String),
}

/// Strips the metadata ([`strip_metadata`]), reads the dimensions from the header and checks
/// them against `limits` before decoding anything, decodes within `limits` (the first frame of
/// an animation), and makes the upright variants and the thumbhash.
pub fn process_image(
    bytes: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> Result<ProcessedImage, ImageRefused> {
    let original = strip_metadata(bytes, format)
        .ok_or_else(|| ImageRefused::Undecodable(format!("not a {} container", format.mime())))?;
    // Decoded from the stripped bytes, so that what the variants show is what is served.
    let image = decode(&original, format, limits)?;
    let variants = variants::make(
        &image.pixels,
        image.orientation,
        image.icc_profile.as_deref(),
    )
    .map_err(|error| ImageRefused::Undecodable(format!("making a variant: {error}")))?;
    let (stored_width, stored_height) = (image.pixels.width(), image.pixels.height());
    let (width, height) = if variants::turns_sideways(image.orientation) {
        (stored_height, stored_width)
    } else {
        (stored_width, stored_height)
    };
    Ok(ProcessedImage {
        original,
        mime: format.mime(),
        width,
        height,
        thumbnail: variants.thumbnail,
        preview: variants.preview,
        thumbhash: variants.thumbhash,
    })
}

struct Decoded {
    /// As stored (not yet turned), 8 bits per channel.
    pixels: DynamicImage,
    /// How to turn them for display.
    orientation: Orientation,
    icc_profile: Option<Vec<u8>>,
}

fn decode(
    bytes: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> Result<Decoded, ImageRefused> {
    let mut allocation = image::Limits::default();
    allocation.max_alloc = Some(limits.max_alloc_bytes);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.codec());
    reader.limits(allocation.clone());
    // Reads the header only.
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        // Some decoders (GIF's) accept an empty canvas; there is nothing to show.
        return Err(ImageRefused::Undecodable(format!(
            "{width}×{height} pixels"
        )));
    }
    let too_large = || ImageRefused::TooLarge { width, height };
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_side || height > limits.max_side || pixels > limits.max_pixels {
        return Err(too_large());
    }
    let orientation = decoder.orientation().map_err(undecodable)?;
    let icc_profile = decoder.icc_profile().map_err(undecodable)?;
    // As `ImageReader::decode` does: the output buffer counts against the allowance.
    let mut decoding = allocation;
    decoding.max_image_width = Some(limits.max_side);
    decoding.max_image_height = Some(limits.max_side);
    decoding
        .reserve(decoder.total_bytes())
        .map_err(|_| too_large())?;
    decoder.set_limits(decoding).map_err(|_| too_large())?;
    let decoded = DynamicImage::from_decoder(decoder).map_err(|error| match error {
        ImageError::Limits(_) => too_large(),
        error => undecodable(error),
    })?;
    Ok(Decoded {
        pixels: eight_bits(decoded),
        orientation,
        icc_profile,
    })
}

/// Variants are 8-bit files: converting once, before scaling, halves the work for 16-bit
/// sources.
fn eight_bits(image: DynamicImage) -> DynamicImage {
    match image {
        DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_) => image,
        DynamicImage::ImageLuma16(_) => image.to_luma8().into(),
        DynamicImage::ImageLumaA16(_) => image.to_luma_alpha8().into(),
        image if image.color().has_alpha() => image.to_rgba8().into(),
        image => image.to_rgb8().into(),
    }
}

fn undecodable(error: ImageError) -> ImageRefused {
    ImageRefused::Undecodable(error.to_string())
}
