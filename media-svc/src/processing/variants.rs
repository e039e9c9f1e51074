//! The smaller files made from a decoded, upright image, and its placeholder: what a client
//! shows in a message list before (or instead of) fetching the original.

use std::io::Cursor;

use image::{
    DynamicImage, ExtendedColorType, ImageEncoder, ImageError,
    codecs::{jpeg::JpegEncoder, png::PngEncoder},
    imageops::FilterType,
    metadata::Orientation,
};

/// The box a thumbnail fits in, in pixels.
pub const THUMBNAIL_BOX: u32 = 400;
/// The box a preview fits in.
pub const PREVIEW_BOX: u32 = 1600;
/// The box the thumbhash is computed in (the most `thumbhash` takes).
pub const THUMBHASH_BOX: u32 = 100;

/// Quality of JPEG variants: photos look as the original at a third of the bytes.
const JPEG_QUALITY: u8 = 82;

/// A variant, encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedVariant {
    pub bytes: Vec<u8>,
    /// `image/jpeg`, or `image/png` for an image with transparent pixels.
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

pub(super) struct Variants {
    pub(super) thumbnail: Option<EncodedVariant>,
    pub(super) preview: Option<EncodedVariant>,
    pub(super) thumbhash: Vec<u8>,
}

/// Every variant of `stored` that is smaller than it (never upscaled), each made from the
/// next larger one to save work, turned upright by `orientation`, and encoded as JPEG, or as
/// PNG when a pixel is transparent (JPEG has no alpha). `icc_profile` is the source's:
/// variants keep it when it describes their channels (RGB or grey), so that wide-gamut photos
/// keep their colours.
///
/// The pixels are scaled as stored and turned afterwards: turning a 12 MP photo costs about
/// as much as decoding it, turning its preview almost nothing.
pub(super) fn make(
    stored: &DynamicImage,
    orientation: Orientation,
    icc_profile: Option<&[u8]>,
) -> Result<Variants, ImageError> {
    let encoding = Encoding::for_image(stored);
    // The boxes are square: what fits once turned fits as stored.
    let preview = scaled_to_fit(stored, PREVIEW_BOX);
    let preview_or_image = preview.as_ref().unwrap_or(stored);
    let thumbnail = scaled_to_fit(preview_or_image, THUMBNAIL_BOX);
    let smallest = thumbnail.as_ref().unwrap_or(preview_or_image);
    let thumbhash = thumbhash_of(smallest, orientation);
    let encode = |variant: Option<DynamicImage>| {
        variant
            .map(|mut variant| {
                variant.apply_orientation(orientation);
                encoding.encode(&variant, icc_profile)
            })
            .transpose()
    };
    Ok(Variants {
        thumbnail: encode(thumbnail)?,
        preview: encode(preview)?,
        thumbhash,
    })
}

/// Whether `orientation` swaps width and height (EXIF orientations 5–8).
pub(super) fn turns_sideways(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// The size of a `width` × `height` image scaled to fit a `side` box, at least 1×1, or
/// `None` when it already fits.
pub(super) fn fitted_size(width: u32, height: u32, side: u32) -> Option<(u32, u32)> {
    if width <= side && height <= side {
        return None;
    }
    let (long, short) = (u64::from(width.max(height)), u64::from(width.min(height)));
    let scaled_short = ((short * u64::from(side) + long / 2) / long).max(1);
    let scaled_short = u32::try_from(scaled_short).unwrap_or(side);
    Some(if width >= height {
        (side, scaled_short)
    } else {
        (scaled_short, side)
    })
}

/// `image` scaled to fit a `side` box, or `None` when it already fits.
fn scaled_to_fit(image: &DynamicImage, side: u32) -> Option<DynamicImage> {
    let (width, height) = fitted_size(image.width(), image.height(), side)?;
    Some(scaled(image, width, height))
}

/// Downscales with a triangle filter (every source pixel weighs in, so no aliasing), or, from
/// [`BOX_FILTER_RATIO`] times smaller on, by averaging the source pixels that fall in each
/// target pixel, which looks the same at such ratios and costs a fraction: for a 48 MP photo
/// the triangle filter's work grows with both its pixels and the ratio.
fn scaled(image: &DynamicImage, width: u32, height: u32) -> DynamicImage {
    let ratio = image.width().max(image.height()) / width.max(height).max(1);
    if ratio >= BOX_FILTER_RATIO {
        image.thumbnail_exact(width, height)
    } else {
        image.resize_exact(width, height, FilterType::Triangle)
    }
}

/// See [`scaled`].
const BOX_FILTER_RATIO: u32 = 3;

fn thumbhash_of(image: &DynamicImage, orientation: Orientation) -> Vec<u8> {
    let mut small = scaled_to_fit(image, THUMBHASH_BOX).unwrap_or_else(|| image.clone());
    small.apply_orientation(orientation);
    let rgba = small.to_rgba8();
    // Within the box by construction, as `rgba_to_thumb_hash` asserts.
    let (width, height) = (rgba.width() as usize, rgba.height() as usize);
    thumbhash::rgba_to_thumb_hash(width, height, rgba.as_raw())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Jpeg,
    Png,
}

impl Encoding {
    fn for_image(image: &DynamicImage) -> Self {
        let transparent = match image {
            DynamicImage::ImageLumaA8(pixels) => pixels.pixels().any(|pixel| pixel.0[1] < u8::MAX),
            DynamicImage::ImageRgba8(pixels) => pixels.pixels().any(|pixel| pixel.0[3] < u8::MAX),
            _ => image.color().has_alpha(),
        };
        if transparent {
            Encoding::Png
        } else {
            Encoding::Jpeg
        }
    }

    fn encode(
        self,
        image: &DynamicImage,
        icc_profile: Option<&[u8]>,
    ) -> Result<EncodedVariant, ImageError> {
        let grey = !image.color().has_color();
        let (pixels, color): (Vec<u8>, ExtendedColorType) = match (self, grey) {
            (Encoding::Jpeg, true) => (image.to_luma8().into_raw(), ExtendedColorType::L8),
            (Encoding::Jpeg, false) => (image.to_rgb8().into_raw(), ExtendedColorType::Rgb8),
            (Encoding::Png, true) => (image.to_luma_alpha8().into_raw(), ExtendedColorType::La8),
            (Encoding::Png, false) => (image.to_rgba8().into_raw(), ExtendedColorType::Rgba8),
        };
        let profile = icc_profile.filter(|profile| describes(profile, grey));
        let (width, height) = (image.width(), image.height());
        let mut bytes = Cursor::new(Vec::new());
        let mime = match self {
            Encoding::Jpeg => {
                let mut encoder = JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY);
                if let Some(profile) = profile {
                    // A profile the encoder cannot carry leaves the colours as sRGB would.
                    let _ = encoder.set_icc_profile(profile.to_vec());
                }
                encoder.write_image(&pixels, width, height, color)?;
                "image/jpeg"
            }
            Encoding::Png => {
                let mut encoder = PngEncoder::new(&mut bytes);
                if let Some(profile) = profile {
                    let _ = encoder.set_icc_profile(profile.to_vec());
                }
                encoder.write_image(&pixels, width, height, color)?;
                "image/png"
            }
        };
        Ok(EncodedVariant {
            bytes: bytes.into_inner(),
            mime,
            width,
            height,
        })
    }
}

/// Whether an ICC profile describes the channels a variant has: its data colour space
/// (bytes 16–19 of the header) is RGB for colour, GRAY for grey. A CMYK profile does not
/// describe the RGB that a CMYK JPEG was decoded to.
fn describes(profile: &[u8], grey: bool) -> bool {
    let space = profile.get(16..20);
    if grey {
        space == Some(b"GRAY")
    } else {
        space == Some(b"RGB ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fit_the_box_keep_the_aspect_and_never_grow() {
        assert_eq!(fitted_size(400, 300, 400), None);
        assert_eq!(fitted_size(1, 10_000, 400), Some((1, 400)));
        assert_eq!(fitted_size(10_000, 1, 100), Some((100, 1)));
        assert_eq!(fitted_size(4000, 3000, 1600), Some((1600, 1200)));
        assert_eq!(fitted_size(3000, 4000, 400), Some((300, 400)));
        assert_eq!(fitted_size(401, 200, 400), Some((400, 200)));
        assert_eq!(fitted_size(u32::MAX, u32::MAX - 1, 400), Some((400, 400)));
    }
}
