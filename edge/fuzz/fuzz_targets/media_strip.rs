//! media-svc's lossless metadata stripping (media-svc/src/processing/strip/): the block and
//! segment walkers for JPEG and GIF, and img-parts for PNG and WebP, on hostile containers.
//!
//! The first byte picks the format (`% 4`: JPEG, PNG, GIF, WebP), the rest is the file.
//! Besides not panicking: a stripped file is still recognised as that format, grows by no
//! more than the orientation it may write back and the end marker it may add, and stripping
//! it again changes nothing.

#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_media_svc::processing::{ImageFormat, sniff, strip_metadata};

/// The most a stripped file may grow: a minimal EXIF block in its container (at most 36
/// bytes), a VP8X header WebP may need for it (18), an end marker (at most 12).
const MAX_GROWTH: usize = 36 + 18 + 12;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let format = ImageFormat::ALL[usize::from(selector) % ImageFormat::ALL.len()];
    let Some(stripped) = strip_metadata(bytes, format) else {
        return;
    };
    assert!(
        stripped.len() <= bytes.len() + MAX_GROWTH,
        "{format:?} grew from {} to {} bytes",
        bytes.len(),
        stripped.len()
    );
    assert_eq!(sniff(&stripped, "").image, Some(format), "no longer a {format:?}");
    assert_eq!(
        strip_metadata(&stripped, format).as_ref(),
        Some(&stripped),
        "stripping a stripped {format:?} changed it"
    );
});
