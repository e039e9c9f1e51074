//! media-svc's image processing (media-svc/src/processing/process.rs): stripping, the header
//! check, decoding within limits, orientation, variants and the thumbhash, with limits small
//! enough that each input decodes in milliseconds.
//!
//! The first byte picks the format (`% 4`: JPEG, PNG, GIF, WebP), the rest is the file.
//! Besides not panicking or allocating past the limits (libFuzzer's -rss_limit_mb): a
//! processed image is within the limits as displayed, its original is exactly what
//! `strip_metadata` gives, and each variant fits its box, is smaller than the image and
//! keeps its aspect.

#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_media_svc::processing::{
    EncodedVariant, ImageFormat, ImageLimits, PREVIEW_BOX, THUMBNAIL_BOX, process_image,
    strip_metadata,
};

const LIMITS: ImageLimits = ImageLimits {
    max_pixels: 1 << 20,
    max_side: 4096,
    max_alloc_bytes: 64 * 1024 * 1024,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let format = ImageFormat::ALL[usize::from(selector) % ImageFormat::ALL.len()];
    let Ok(image) = process_image(bytes, format, &LIMITS) else {
        return;
    };
    let (width, height) = (image.width, image.height);
    assert!(width >= 1 && height >= 1);
    assert!(width <= LIMITS.max_side && height <= LIMITS.max_side);
    assert!(u64::from(width) * u64::from(height) <= LIMITS.max_pixels);
    assert_eq!(image.mime, format.mime());
    assert_eq!(Some(&image.original), strip_metadata(bytes, format).as_ref());
    assert!(!image.thumbhash.is_empty());
    let fits = |side| width <= side && height <= side;
    assert_eq!(image.thumbnail.is_none(), fits(THUMBNAIL_BOX));
    assert_eq!(image.preview.is_none(), fits(PREVIEW_BOX));
    for (variant, side) in [(&image.thumbnail, THUMBNAIL_BOX), (&image.preview, PREVIEW_BOX)] {
        let Some(EncodedVariant { width: w, height: h, bytes, .. }) = variant else {
            continue;
        };
        assert!(*w >= 1 && *h >= 1 && *w <= side && *h <= side, "{w}×{h} in {side}");
        assert!(*w <= width && *h <= height, "{w}×{h} upscales {width}×{height}");
        // Rounding may make a near square square, never turn it.
        assert!(
            (width > height && w >= h) || (width < height && w <= h) || width == height,
            "{w}×{h} turned {width}×{height}"
        );
        assert!(!bytes.is_empty());
    }
});
