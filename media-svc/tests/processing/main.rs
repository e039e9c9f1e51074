//! The processing library on real files: images made here, given the metadata cameras and
//! editors write, then stripped, decoded and scaled, and checked with image, img-parts and
//! the Debian tools exiftool and identify.

// Helpers outside #[test] functions may panic too: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod fixtures;
mod oracles;
mod writers;

use std::time::{Duration, Instant};

use fixtures::*;
use image::{GenericImageView, RgbaImage};
use img_parts::{ImageICC, jpeg::Jpeg};
use oracles::{exiftool, identify, tags_naming};
use parley_media_svc::processing::{
    Disposition, ImageFormat, ImageLimits, ImageRefused, content_disposition, disposition,
    process_image, sniff, strip_metadata,
};

/// Words that name what stripping removes, as exiftool calls it.
const METADATA_WORDS: [&str; 10] = [
    "GPS",
    "Make",
    "XMP",
    "Comment",
    "IPTC",
    "Photoshop",
    "MPF",
    "Caption",
    "Description",
    "ModifyDate",
];

fn secrets() -> [&'static [u8]; 6] {
    [
        GPS_SECRET,
        MAKE_SECRET.as_bytes(),
        XMP_SECRET.as_bytes(),
        COMMENT_SECRET.as_bytes(),
        IPTC_SECRET.as_bytes(),
        TRAILER_SECRET.as_bytes(),
    ]
}

fn assert_no_secret(stripped: &[u8]) {
    for secret in secrets() {
        assert!(
            !stripped
                .windows(secret.len())
                .any(|window| window == secret),
            "{} survived",
            String::from_utf8_lossy(secret)
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[test]
fn a_jpeg_loses_gps_xmp_comments_and_trailers_and_keeps_orientation_and_colour_profile() {
    let plain = jpeg(&marked(64, 32));
    let icc = icc_profile(b"RGB ");
    let original = jpeg_with_everything(&plain, 6, &icc);
    let before = exiftool(&original, "jpg");
    assert!(
        !tags_naming(&before, &["GPS", "XMP", "Comment"]).is_empty(),
        "the fixture carries metadata: {before:?}"
    );

    let stripped = strip_metadata(&original, ImageFormat::Jpeg).unwrap();
    assert_no_secret(&stripped);
    let after = exiftool(&stripped, "jpg");
    assert_eq!(tags_naming(&after, &METADATA_WORDS), Vec::<String>::new());
    assert_eq!(after.get("IFD0:Orientation"), Some(&6.into()), "{after:?}");
    assert_eq!(
        after
            .get("ICC-header:ColorSpaceData")
            .and_then(|v| v.as_str()),
        Some("RGB "),
        "{after:?}"
    );
    assert!(
        !after.keys().any(|key| key.contains("Warning")),
        "exiftool warns: {after:?}"
    );
    // img-parts reads the same profile back, byte for byte.
    let parsed = Jpeg::from_bytes(stripped.clone().into()).unwrap();
    assert_eq!(parsed.icc_profile().as_deref(), Some(&icc[..]));
    // One image: the file ends at the first EOI.
    assert_eq!(&stripped[stripped.len() - 2..], [0xFF, 0xD9]);
    assert_eq!(
        stripped.windows(2).filter(|w| w == &[0xFF, 0xD8]).count(),
        1
    );

    // Lossless: the coded image is copied, so the pixels are the original's exactly.
    let scan_start = plain.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    assert!(contains(&stripped, &plain[scan_start..plain.len() - 2]));
    assert_eq!(
        stored_pixels(&stripped).to_rgb8(),
        stored_pixels(&plain).to_rgb8()
    );
    assert_eq!(identify(&stripped, "jpg"), "JPEG 64 32 RightTop");
    // Stripping a stripped file changes nothing.
    assert_eq!(strip_metadata(&stripped, ImageFormat::Jpeg), Some(stripped));
}

#[test]
fn a_jpeg_without_orientation_gets_no_exif_at_all() {
    let original = jpeg_with_everything(&jpeg(&marked(16, 16)), 1, &icc_profile(b"RGB "));
    let stripped = strip_metadata(&original, ImageFormat::Jpeg).unwrap();
    assert!(!contains(&stripped, b"Exif\0\0"));
    let after = exiftool(&stripped, "jpg");
    assert_eq!(after.get("IFD0:Orientation"), None);
    assert!(
        after.contains_key("JFIF:JFIFVersion"),
        "JFIF kept: {after:?}"
    );
}

#[test]
fn a_png_loses_text_exif_time_private_chunks_and_trailers_and_keeps_its_profile() {
    let plain = png_rgb(&marked(40, 20));
    let icc = icc_profile(b"RGB ");
    let original = png_with_everything(&plain, 8, &icc);
    assert!(!tags_naming(&exiftool(&original, "png"), &["XMP", "GPS"]).is_empty());

    let stripped = strip_metadata(&original, ImageFormat::Png).unwrap();
    assert_no_secret(&stripped);
    let kinds: Vec<String> = png_chunks(&stripped)
        .iter()
        .map(|(kind, _)| String::from_utf8_lossy(kind).into_owned())
        .collect();
    assert_eq!(kinds, ["IHDR", "iCCP", "eXIf", "IDAT", "IEND"]);
    assert!(stripped.ends_with(b"IEND\xae\x42\x60\x82"));
    let after = exiftool(&stripped, "png");
    assert_eq!(tags_naming(&after, &METADATA_WORDS), Vec::<String>::new());
    assert_eq!(after.get("IFD0:Orientation"), Some(&8.into()), "{after:?}");
    let parsed = img_parts::png::Png::from_bytes(stripped.clone().into()).unwrap();
    assert_eq!(parsed.icc_profile().as_deref(), Some(&icc[..]));
    assert_eq!(stored_pixels(&stripped), stored_pixels(&plain));
    // ImageMagick 6 reads no orientation from PNG; exiftool did above.
    assert!(identify(&stripped, "png").starts_with("PNG 40 20 "));
    assert_eq!(strip_metadata(&stripped, ImageFormat::Png), Some(stripped));
}

#[test]
fn a_webp_loses_exif_xmp_and_unknown_chunks_with_their_flags() {
    let plain = webp_lossless(&marked(30, 10));
    let icc = icc_profile(b"RGB ");
    let original = webp_with_everything(&plain, 30, 10, 5, &icc);
    assert!(!tags_naming(&exiftool(&original, "webp"), &["XMP", "GPS"]).is_empty());

    let stripped = strip_metadata(&original, ImageFormat::Webp).unwrap();
    assert_no_secret(&stripped);
    let chunks = webp_chunks(&stripped);
    let ids: Vec<&[u8]> = chunks.iter().map(|(id, _)| &id[..]).collect();
    assert_eq!(ids, [&b"VP8X"[..], b"ICCP", b"VP8L", b"EXIF"]);
    // ICC and EXIF announced, XMP no longer.
    assert_eq!(chunks[0].1[0], 0b0010_1000);
    assert_eq!(chunks[1].1, icc);
    // The RIFF size covers exactly the file.
    let riff_size = u32::from_le_bytes(stripped[4..8].try_into().unwrap()) as usize;
    assert_eq!(riff_size + 8, stripped.len());
    let after = exiftool(&stripped, "webp");
    assert_eq!(tags_naming(&after, &METADATA_WORDS), Vec::<String>::new());
    assert_eq!(after.get("IFD0:Orientation"), Some(&5.into()), "{after:?}");
    assert_eq!(stored_pixels(&stripped), stored_pixels(&plain));
    assert_eq!(strip_metadata(&stripped, ImageFormat::Webp), Some(stripped));

    // Without an orientation nothing of EXIF is left, its flag included.
    let upright = strip_metadata(
        &webp_with_everything(&plain, 30, 10, 1, &icc),
        ImageFormat::Webp,
    )
    .unwrap();
    let chunks = webp_chunks(&upright);
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[0].1[0], 0b0010_0000);
}

#[test]
fn a_gif_loses_comments_xmp_and_trailers_and_keeps_its_frames_and_loop() {
    let plain = animated_gif(
        8,
        8,
        &[[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]],
    );
    let original = gif_with_everything(&plain);
    let before = exiftool(&original, "gif");
    assert!(!tags_naming(&before, &["Comment"]).is_empty(), "{before:?}");

    let stripped = strip_metadata(&original, ImageFormat::Gif).unwrap();
    assert_no_secret(&stripped);
    assert_eq!(stripped, plain, "exactly the encoder's file again");
    let after = exiftool(&stripped, "gif");
    assert_eq!(tags_naming(&after, &METADATA_WORDS), Vec::<String>::new());
    assert_eq!(
        after.get("GIF:AnimationIterations"),
        Some(&0.into()),
        "{after:?}"
    );
    assert_eq!(after.get("GIF:FrameCount"), Some(&3.into()), "{after:?}");
}

#[test]
fn a_file_cut_short_keeps_what_arrived_and_garbage_is_refused() {
    let plain = jpeg(&photo(64, 64));
    let cut = &plain[..plain.len() / 2];
    let stripped = strip_metadata(cut, ImageFormat::Jpeg).unwrap();
    assert!(stripped.ends_with(&[0xFF, 0xD9]));
    assert!(stripped.starts_with(&plain[..20]));

    for format in ImageFormat::ALL {
        assert_eq!(strip_metadata(b"", format), None);
        assert_eq!(
            strip_metadata(b"<html><body>hi</body></html>", format),
            None
        );
    }
    // Headers only, no image data.
    assert_eq!(strip_metadata(&plain[..20], ImageFormat::Jpeg), None);
    assert_eq!(
        strip_metadata(b"GIF89a\x01\0\x01\0\0\0\0;", ImageFormat::Gif),
        None
    );
}

#[test]
fn display_dimensions_and_variants_follow_the_orientation() {
    let stored = marked(600, 300);
    for orientation in 1..=8u16 {
        let original = jpeg_with_everything(&jpeg(&stored), orientation, &icc_profile(b"RGB "));
        let processed = process_image(&original, ImageFormat::Jpeg, &ImageLimits::default())
            .unwrap_or_else(|refused| panic!("orientation {orientation}: {refused}"));
        let turned = orientation >= 5;
        let (width, height) = if turned { (300, 600) } else { (600, 300) };
        assert_eq!(
            (processed.width, processed.height),
            (width, height),
            "orientation {orientation}"
        );
        assert_eq!(processed.mime, "image/jpeg");
        assert!(processed.preview.is_none(), "600 px fits the preview box");
        let thumbnail = processed.thumbnail.expect("600 px does not fit 400");
        let expected = if turned { (200, 400) } else { (400, 200) };
        assert_eq!((thumbnail.width, thumbnail.height), expected);
        assert_eq!(thumbnail.mime, "image/jpeg");

        // The stored top-left quarter is red; where it shows depends on the orientation.
        let pixels = image::load_from_memory(&thumbnail.bytes).unwrap();
        assert_eq!(pixels.dimensions(), expected);
        let red_corner = match orientation {
            1 => (0, 0),
            2 => (1, 0),
            3 => (1, 1),
            4 => (0, 1),
            5 => (0, 0),
            6 => (1, 0),
            7 => (1, 1),
            8 => (0, 1),
            _ => unreachable!(),
        };
        let (w, h) = expected;
        for (corner_x, corner_y) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            let x = if corner_x == 0 { w / 8 } else { w - w / 8 };
            let y = if corner_y == 0 { h / 8 } else { h - h / 8 };
            let pixel = pixels.get_pixel(x.min(w - 1), y.min(h - 1));
            let is_red = pixel.0[0] > 200 && pixel.0[2] < 60;
            assert_eq!(
                is_red,
                (corner_x, corner_y) == red_corner,
                "orientation {orientation}, corner {corner_x},{corner_y}: {pixel:?}"
            );
        }
        // The variant is upright already and carries no orientation of its own.
        assert_eq!(
            identify(&thumbnail.bytes, "jpg").split(' ').next_back(),
            Some("Undefined")
        );
    }
}

#[test]
fn small_images_are_never_upscaled() {
    let processed = process_image(
        &png_rgb(&marked(300, 200)),
        ImageFormat::Png,
        &ImageLimits::default(),
    )
    .unwrap();
    assert_eq!((processed.width, processed.height), (300, 200));
    assert_eq!(processed.thumbnail, None);
    assert_eq!(processed.preview, None);
    assert!(
        (20..=30).contains(&processed.thumbhash.len()),
        "{}",
        processed.thumbhash.len()
    );
    let (w, h, _) = thumbhash::thumb_hash_to_rgba(&processed.thumbhash).unwrap();
    assert!(w > h, "the placeholder keeps the aspect ratio: {w}×{h}");
}

#[test]
fn a_one_by_ten_thousand_image_is_processed() {
    let processed = process_image(
        &png_rgb(&marked(1, 10_000)),
        ImageFormat::Png,
        &ImageLimits::default(),
    )
    .unwrap();
    assert_eq!((processed.width, processed.height), (1, 10_000));
    let thumbnail = processed.thumbnail.unwrap();
    assert_eq!((thumbnail.width, thumbnail.height), (1, 400));
    let preview = processed.preview.unwrap();
    assert_eq!((preview.width, preview.height), (1, 1600));
    assert_eq!(
        image::load_from_memory(&preview.bytes)
            .unwrap()
            .dimensions(),
        (1, 1600)
    );
    assert!(!processed.thumbhash.is_empty());
}

#[test]
fn a_png_claiming_65535_squared_is_refused_from_its_header_before_any_allocation() {
    let bomb = png_claiming(65_535, 65_535);
    let started = Instant::now();
    let refused = process_image(&bomb, ImageFormat::Png, &ImageLimits::default());
    let elapsed = started.elapsed();
    assert_eq!(
        refused,
        Err(ImageRefused::TooLarge {
            width: 65_535,
            height: 65_535
        })
    );
    // Decoding would need 12 GiB and minutes; the header alone takes microseconds.
    assert!(elapsed < Duration::from_millis(250), "took {elapsed:?}");
    // It is still stripped for storing as a file.
    let stripped = strip_metadata(&bomb, ImageFormat::Png).unwrap();
    assert!(!contains(&stripped, COMMENT_SECRET.as_bytes()));
}

#[test]
fn each_limit_refuses_on_its_own() {
    let limits = ImageLimits {
        max_pixels: 10_000,
        max_side: 200,
        max_alloc_bytes: 1024 * 1024,
    };
    let refused =
        |width, height| process_image(&png_rgb(&marked(width, height)), ImageFormat::Png, &limits);
    assert!(refused(100, 100).is_ok());
    assert_eq!(
        refused(201, 1),
        Err(ImageRefused::TooLarge {
            width: 201,
            height: 1
        })
    );
    assert_eq!(
        refused(101, 100),
        Err(ImageRefused::TooLarge {
            width: 101,
            height: 100
        })
    );
    let tight = ImageLimits {
        max_alloc_bytes: 1000,
        ..ImageLimits::default()
    };
    assert_eq!(
        process_image(&png_rgb(&marked(100, 100)), ImageFormat::Png, &tight),
        Err(ImageRefused::TooLarge {
            width: 100,
            height: 100
        })
    );
}

#[test]
fn transparent_images_get_png_variants_and_opaque_ones_jpeg() {
    let mut see_through = RgbaImage::from_pixel(800, 800, image::Rgba([0, 128, 0, 255]));
    see_through.put_pixel(0, 0, image::Rgba([0, 0, 0, 0]));
    let processed = process_image(
        &png_rgba(&see_through),
        ImageFormat::Png,
        &ImageLimits::default(),
    )
    .unwrap();
    assert_eq!(processed.thumbnail.unwrap().mime, "image/png");

    let opaque = RgbaImage::from_pixel(800, 800, image::Rgba([0, 128, 0, 255]));
    let processed = process_image(
        &png_rgba(&opaque),
        ImageFormat::Png,
        &ImageLimits::default(),
    )
    .unwrap();
    assert_eq!(processed.thumbnail.unwrap().mime, "image/jpeg");
}

#[test]
fn variants_keep_an_rgb_colour_profile() {
    let icc = icc_profile(b"RGB ");
    let original = jpeg_with_everything(&jpeg(&photo(900, 600)), 1, &icc);
    let processed = process_image(&original, ImageFormat::Jpeg, &ImageLimits::default()).unwrap();
    let thumbnail = processed.thumbnail.unwrap();
    let parsed = Jpeg::from_bytes(thumbnail.bytes.into()).unwrap();
    assert_eq!(parsed.icc_profile().as_deref(), Some(&icc[..]));
}

#[test]
fn an_animated_gif_gets_its_first_frame_as_thumbnail() {
    let gif = animated_gif(500, 500, &[[255, 0, 0, 255], [0, 0, 255, 255]]);
    let processed = process_image(
        &gif_with_everything(&gif),
        ImageFormat::Gif,
        &ImageLimits::default(),
    )
    .unwrap();
    assert_eq!((processed.width, processed.height), (500, 500));
    assert_eq!(processed.mime, "image/gif");
    let thumbnail = processed.thumbnail.unwrap();
    assert_eq!((thumbnail.width, thumbnail.height), (400, 400));
    let pixel = image::load_from_memory(&thumbnail.bytes)
        .unwrap()
        .get_pixel(200, 200);
    assert!(
        pixel.0[0] > 200 && pixel.0[2] < 60,
        "the red first frame: {pixel:?}"
    );
    assert_no_secret(&processed.original);
}

#[test]
fn a_webp_and_a_large_photo_get_both_variants() {
    let processed = process_image(
        &webp_with_everything(
            &webp_lossless(&marked(2000, 500)),
            2000,
            500,
            6,
            &icc_profile(b"RGB "),
        ),
        ImageFormat::Webp,
        &ImageLimits::default(),
    )
    .unwrap();
    assert_eq!((processed.width, processed.height), (500, 2000));
    let preview = processed.preview.unwrap();
    assert_eq!((preview.width, preview.height), (400, 1600));
    let thumbnail = processed.thumbnail.unwrap();
    assert_eq!((thumbnail.width, thumbnail.height), (100, 400));
    assert_eq!(identify(&preview.bytes, "jpg"), "JPEG 400 1600 Undefined");
}

#[test]
fn bytes_that_are_not_the_format_are_undecodable() {
    let refused = process_image(
        b"GIF89a nonsense",
        ImageFormat::Gif,
        &ImageLimits::default(),
    );
    assert!(
        matches!(refused, Err(ImageRefused::Undecodable(_))),
        "{refused:?}"
    );
    // A GIF whose canvas has no height (found by fuzzing: the GIF decoder accepts it).
    let mut empty = animated_gif(8, 8, &[[255, 0, 0, 255]]);
    empty[8..10].fill(0);
    let refused = process_image(&empty, ImageFormat::Gif, &ImageLimits::default());
    assert!(
        matches!(refused, Err(ImageRefused::Undecodable(_))),
        "{refused:?}"
    );
    // A container that parses around a frame that cannot be: zero pixels wide.
    let mut broken = jpeg(&photo(64, 64));
    let frame = broken.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    broken[frame + 7..frame + 9].fill(0);
    assert!(strip_metadata(&broken, ImageFormat::Jpeg).is_some());
    let refused = process_image(&broken, ImageFormat::Jpeg, &ImageLimits::default());
    assert!(
        matches!(refused, Err(ImageRefused::Undecodable(_))),
        "{refused:?}"
    );
}

#[test]
fn an_html_page_uploaded_as_a_png_is_served_as_an_opaque_attachment() {
    let page = b"<html><head><script>fetch('/steal')</script></head></html>";
    let sniffed = sniff(page, "photo.png");
    assert_eq!(sniffed.mime, "application/octet-stream");
    assert_eq!(sniffed.image, None);
    assert_eq!(disposition(sniffed.mime), Disposition::Attachment);
    assert_eq!(
        content_disposition(disposition(sniffed.mime), "photo.png"),
        "attachment; filename=\"photo.png\"; filename*=UTF-8''photo.png"
    );
    let real = sniff(&png_rgb(&marked(2, 2)), "photo.png");
    assert_eq!(real.image, Some(ImageFormat::Png));
    assert_eq!(disposition(real.mime), Disposition::Inline);
}

/// `cargo test --release -p parley-media-svc --test processing -- --ignored --nocapture`
#[test]
#[ignore = "a measurement: run in release mode"]
fn photo_timing() {
    let limits = ImageLimits::default();
    for (width, height) in [(4000, 3000), (8000, 6000)] {
        // Orientation 6, as phones store portrait photos.
        let original = jpeg_with_everything(&jpeg(&photo(width, height)), 6, &icc_profile(b"RGB "));
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let processed = process_image(&original, ImageFormat::Jpeg, &limits).unwrap();
            times.push(started.elapsed());
            assert_eq!((processed.width, processed.height), (height, width));
        }
        times.sort();
        let started = Instant::now();
        strip_metadata(&original, ImageFormat::Jpeg).unwrap();
        let strip = started.elapsed();
        println!(
            "{} MP JPEG ({} bytes): process_image min {:?}, median {:?}, max {:?}; strip alone {strip:?}",
            width * height / 1_000_000,
            original.len(),
            times[0],
            times[2],
            times[4]
        );
    }
}
