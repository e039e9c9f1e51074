//! Images made in the test, then given by hand the metadata that cameras, editors and
//! polyglot makers write: EXIF with GPS, a camera make and an orientation, XMP, IPTC,
//! comments, ICC profiles, secondary images and trailing bytes. Each secret is a string the
//! tests then look for in the stripped file.

use std::io::Cursor;

use image::{
    DynamicImage, ExtendedColorType, ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage,
    codecs::{
        gif::{GifEncoder, Repeat},
        jpeg::JpegEncoder,
        png::PngEncoder,
        webp::WebPEncoder,
    },
};

/// Strings that must not survive stripping.
pub const GPS_SECRET: &[u8] = b"N 48 51 30";
pub const MAKE_SECRET: &str = "ParleyCam";
pub const XMP_SECRET: &str = "xmp-secret-location";
pub const COMMENT_SECRET: &str = "comment-secret";
pub const IPTC_SECRET: &str = "iptc-secret-caption";
pub const TRAILER_SECRET: &str = "trailer-secret-after-the-end";

/// A picture whose orientation can be told from its pixels: red in the top-left quarter as
/// stored, blue elsewhere.
pub fn marked(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        if x < width / 2 && y < height / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    })
}

/// A photo-like picture: smooth gradients with a little noise, which JPEG codes as a camera
/// photo (flat colours would code unrealistically small and fast).
pub fn photo(width: u32, height: u32) -> RgbImage {
    let mut seed = 0x2545_f491_u32;
    RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = (seed % 24) as u8;
        let r = (x * 255 / width.max(1)) as u8;
        let g = (y * 255 / height.max(1)) as u8;
        let b = ((x + y) % 256) as u8;
        Rgb([
            r.saturating_add(noise),
            g.saturating_add(noise),
            b.wrapping_add(noise),
        ])
    })
}

pub fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

pub fn png_rgb(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

pub fn png_rgba(image: &RgbaImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgba8,
        )
        .unwrap();
    out
}

pub fn webp_lossless(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

/// An animated GIF that loops: one frame per colour.
pub fn animated_gif(width: u32, height: u32, colours: &[[u8; 4]]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        encoder.set_repeat(Repeat::Infinite).unwrap();
        for &colour in colours {
            let frame = RgbaImage::from_pixel(width, height, Rgba(colour));
            encoder.encode_frame(image::Frame::new(frame)).unwrap();
        }
    }
    out
}

/// A small ICC profile (v2, display class, `space` data, XYZ connection space) with one
/// tag, a copyright text: enough for a parser to name it, and unique bytes to find again.
pub fn icc_profile(space: &[u8; 4]) -> Vec<u8> {
    let text = b"text\0\0\0\0Parley test profile\0";
    let mut profile = vec![0u8; 128];
    profile[4..8].copy_from_slice(b"prly");
    profile[8..12].copy_from_slice(&[2, 0x10, 0, 0]);
    profile[12..16].copy_from_slice(b"mntr");
    profile[16..20].copy_from_slice(space);
    profile[20..24].copy_from_slice(b"XYZ ");
    profile[36..40].copy_from_slice(b"acsp");
    // The D50 illuminant, as every profile states it.
    profile[68..80].copy_from_slice(&[0, 0, 0xF6, 0xD6, 0, 1, 0, 0, 0, 0, 0xD3, 0x2D]);
    profile.extend_from_slice(&1u32.to_be_bytes());
    profile.extend_from_slice(b"cprt");
    profile.extend_from_slice(&144u32.to_be_bytes());
    profile.extend_from_slice(&(text.len() as u32).to_be_bytes());
    profile.extend_from_slice(text);
    let size = profile.len() as u32;
    profile[0..4].copy_from_slice(&size.to_be_bytes());
    profile
}

/// A little-endian TIFF structure as a camera writes it: IFD0 with Make, Orientation and a
/// GPS IFD holding a latitude.
pub fn camera_exif(orientation: u16) -> Vec<u8> {
    let make = format!("{MAKE_SECRET}\0");
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"II\x2a\0");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    let ifd0_entries = 3u16;
    let make_at = 8 + 2 + 12 * u32::from(ifd0_entries) + 4;
    let gps_at = make_at + make.len() as u32;
    let gps_entries = 3u16;
    let rationals_at = gps_at + 2 + 12 * u32::from(gps_entries) + 4;
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value);
    };
    tiff.extend_from_slice(&ifd0_entries.to_le_bytes());
    entry(
        &mut tiff,
        0x010F,
        2,
        make.len() as u32,
        make_at.to_le_bytes(),
    );
    let [low, high] = orientation.to_le_bytes();
    entry(&mut tiff, 0x0112, 3, 1, [low, high, 0, 0]);
    entry(&mut tiff, 0x8825, 4, 1, gps_at.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(make.as_bytes());
    tiff.extend_from_slice(&gps_entries.to_le_bytes());
    entry(&mut tiff, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut tiff, 0x0002, 5, 3, rationals_at.to_le_bytes());
    // GPSMapDatum, as text a secret can be found in.
    let datum_at = rationals_at + 24;
    entry(
        &mut tiff,
        0x0012,
        2,
        GPS_SECRET.len() as u32 + 1,
        datum_at.to_le_bytes(),
    );
    tiff.extend_from_slice(&0u32.to_le_bytes());
    for (numerator, denominator) in [(48u32, 1u32), (51, 1), (30, 1)] {
        tiff.extend_from_slice(&numerator.to_le_bytes());
        tiff.extend_from_slice(&denominator.to_le_bytes());
    }
    tiff.extend_from_slice(GPS_SECRET);
    tiff.push(0);
    tiff
}

pub fn xmp_packet() -> String {
    format!(
        "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>\
         <x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF \
         xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>\
         <rdf:Description xmlns:dc='http://purl.org/dc/elements/1.1/'>\
         <dc:description>{XMP_SECRET}</dc:description></rdf:Description>\
         </rdf:RDF></x:xmpmeta><?xpacket end='w'?>"
    )
}

fn jpeg_segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut segment = vec![0xFF, marker];
    segment.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    segment.extend_from_slice(payload);
    segment
}

/// `jpeg` with, after its JFIF header: EXIF (GPS, make, `orientation`), XMP, an ICC profile,
/// IPTC and a comment; a comment after the scan; then, after the end of the image, a second
/// JPEG with its own EXIF (as MPF secondary images are) and trailing text.
pub fn jpeg_with_everything(jpeg: &[u8], orientation: u16, icc: &[u8]) -> Vec<u8> {
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&camera_exif(orientation));
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend_from_slice(xmp_packet().as_bytes());
    let mut icc_payload = b"ICC_PROFILE\0\x01\x01".to_vec();
    icc_payload.extend_from_slice(icc);
    let mut iptc = b"Photoshop 3.0\08BIM\x04\x04\0\0".to_vec();
    iptc.extend_from_slice(&(IPTC_SECRET.len() as u32 + 5).to_be_bytes());
    iptc.extend_from_slice(b"\x1c\x02\x78");
    iptc.extend_from_slice(&(IPTC_SECRET.len() as u16).to_be_bytes());
    iptc.extend_from_slice(IPTC_SECRET.as_bytes());
    let mut mpf = b"MPF\0".to_vec();
    mpf.extend_from_slice(b"MM\0\x2a\0\0\0\x08\0\0\0\0\0\0");

    // The encoder's own file: SOI, APP0 JFIF, then the rest.
    let jfif_end = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    assert_eq!(&jpeg[2..4], &[0xFF, 0xE0], "the encoder writes JFIF first");
    let mut out = jpeg[..jfif_end].to_vec();
    out.extend(jpeg_segment(0xE1, &exif));
    out.extend(jpeg_segment(0xE1, &xmp));
    out.extend(jpeg_segment(0xE2, &icc_payload));
    out.extend(jpeg_segment(0xE2, &mpf));
    out.extend(jpeg_segment(0xED, &iptc));
    out.extend(jpeg_segment(0xFE, COMMENT_SECRET.as_bytes()));
    let body = &jpeg[jfif_end..];
    let (scan, eoi) = body.split_at(body.len() - 2);
    assert_eq!(eoi, [0xFF, 0xD9]);
    out.extend_from_slice(scan);
    // After the scan, where img-parts would keep it.
    out.extend(jpeg_segment(0xFE, b"after-the-scan comment-secret"));
    out.extend_from_slice(eoi);
    // A secondary image with its own EXIF, then a trailer.
    let mut secondary = jpeg[..2].to_vec();
    secondary.extend(jpeg_segment(0xE1, &exif));
    secondary.extend_from_slice(&jpeg[2..]);
    out.extend(secondary);
    out.extend_from_slice(TRAILER_SECRET.as_bytes());
    out
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let mut crc = crc32_of(kind);
    crc = crc32_update(crc, data);
    chunk.extend_from_slice(&(!crc).to_be_bytes());
    chunk
}

fn crc32_of(bytes: &[u8]) -> u32 {
    crc32_update(0xFFFF_FFFF, bytes)
}

fn crc32_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// The chunks of a PNG after its signature: (type, data).
pub fn png_chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut chunks = Vec::new();
    let mut at = 8;
    while at + 12 <= png.len() {
        let length = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = png[at + 4..at + 8].try_into().unwrap();
        chunks.push((kind, png[at + 8..at + 8 + length].to_vec()));
        at += 12 + length;
        if &kind == b"IEND" {
            break;
        }
    }
    chunks
}

/// `png` with an ICC profile, text of every kind (XMP in iTXt), EXIF (GPS, make,
/// `orientation`), a modification time and a private chunk before its data, and bytes after
/// IEND.
pub fn png_with_everything(png: &[u8], orientation: u16, icc: &[u8]) -> Vec<u8> {
    let chunks = png_chunks(png);
    let mut out = png[..8].to_vec();
    for (kind, data) in &chunks {
        if kind == b"IDAT" && !out.windows(4).any(|window| window == b"tEXt") {
            let mut iccp = b"profile\0\0".to_vec();
            iccp.extend(zlib_stored(icc));
            out.extend(png_chunk(b"iCCP", &iccp));
            out.extend(png_chunk(
                b"tEXt",
                format!("Comment\0{COMMENT_SECRET}").as_bytes(),
            ));
            let mut ztxt = b"Description\0\0".to_vec();
            ztxt.extend(zlib_stored(IPTC_SECRET.as_bytes()));
            out.extend(png_chunk(b"zTXt", &ztxt));
            let mut itxt = b"XML:com.adobe.xmp\0\0\0\0\0".to_vec();
            itxt.extend_from_slice(xmp_packet().as_bytes());
            out.extend(png_chunk(b"iTXt", &itxt));
            out.extend(png_chunk(b"eXIf", &camera_exif(orientation)));
            out.extend(png_chunk(b"tIME", &[0x07, 0xE9, 1, 2, 3, 4, 5]));
            out.extend(png_chunk(b"prVt", TRAILER_SECRET.as_bytes()));
        }
        out.extend(png_chunk(kind, data));
    }
    out.extend_from_slice(TRAILER_SECRET.as_bytes());
    out
}

/// zlib with one stored (uncompressed) block: valid for every inflater, no compressor
/// needed.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01, 0x01];
    let length = data.len() as u16;
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&(!length).to_le_bytes());
    out.extend_from_slice(data);
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// A PNG whose header claims `width` × `height` RGB, with a few bytes of image data: what a
/// decompression bomb looks like before inflating.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    out.extend(png_chunk(b"IHDR", &ihdr));
    out.extend(png_chunk(
        b"tEXt",
        format!("Comment\0{COMMENT_SECRET}").as_bytes(),
    ));
    out.extend(png_chunk(b"IDAT", &zlib_stored(&[0; 64])));
    out.extend(png_chunk(b"IEND", &[]));
    out
}

fn riff_chunk(id: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = id.to_vec();
    chunk.extend_from_slice(&(data.len() as u32).to_le_bytes());
    chunk.extend_from_slice(data);
    if data.len() % 2 == 1 {
        chunk.push(0);
    }
    chunk
}

/// The chunks of a WebP after its header: (id, data).
pub fn webp_chunks(webp: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let riff_end = 8 + u32::from_le_bytes(webp[4..8].try_into().unwrap()) as usize;
    let mut chunks = Vec::new();
    let mut at = 12;
    while at + 8 <= riff_end {
        let id: [u8; 4] = webp[at..at + 4].try_into().unwrap();
        let length = u32::from_le_bytes(webp[at + 4..at + 8].try_into().unwrap()) as usize;
        chunks.push((id, webp[at + 8..at + 8 + length].to_vec()));
        at += 8 + length + length % 2;
    }
    chunks
}

/// `webp` (a simple lossless file) made extended: VP8X announcing ICC, EXIF and XMP, an ICC
/// profile, EXIF (GPS, make, `orientation`), XMP and an unknown chunk, then bytes after the
/// RIFF.
pub fn webp_with_everything(
    webp: &[u8],
    width: u32,
    height: u32,
    orientation: u16,
    icc: &[u8],
) -> Vec<u8> {
    let chunks = webp_chunks(webp);
    let (_, image_data) = chunks.iter().find(|(id, _)| id == b"VP8L").unwrap();
    let mut vp8x = vec![0b0010_1100, 0, 0, 0];
    vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    body.extend(riff_chunk(b"VP8X", &vp8x));
    body.extend(riff_chunk(b"ICCP", icc));
    body.extend(riff_chunk(b"VP8L", image_data));
    body.extend(riff_chunk(b"EXIF", &camera_exif(orientation)));
    body.extend(riff_chunk(b"XMP ", xmp_packet().as_bytes()));
    body.extend(riff_chunk(b"prVt", COMMENT_SECRET.as_bytes()));
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out.extend_from_slice(TRAILER_SECRET.as_bytes());
    out
}

/// `gif` with a comment and an XMP application extension before its first image, and bytes
/// after the trailer.
pub fn gif_with_everything(gif: &[u8]) -> Vec<u8> {
    // The first image or extension after the header, screen and global table.
    let flags = gif[10];
    let mut at = 13;
    if flags & 0x80 != 0 {
        at += 3 << ((flags & 7) + 1);
    }
    let mut out = gif[..at].to_vec();
    out.extend_from_slice(&[0x21, 0xFE]);
    out.extend(sub_blocks(COMMENT_SECRET.as_bytes()));
    out.extend_from_slice(&[0x21, 0xFF, 11]);
    out.extend_from_slice(b"XMP DataXMP");
    out.extend(sub_blocks(xmp_packet().as_bytes()));
    out.extend_from_slice(&gif[at..]);
    out.extend_from_slice(TRAILER_SECRET.as_bytes());
    out
}

fn sub_blocks(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for block in data.chunks(255) {
        out.push(block.len() as u8);
        out.extend_from_slice(block);
    }
    out.push(0);
    out
}

/// Decodes without applying any orientation: the pixels as stored.
pub fn stored_pixels(bytes: &[u8]) -> DynamicImage {
    image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap()
}
