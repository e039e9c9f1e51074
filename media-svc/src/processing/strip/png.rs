//! PNG: chunks through img-parts, which checks every CRC and stops at IEND (so nothing after
//! it survives).
//!
//! Kept: every critical chunk (a decoder cannot skip them) and the ancillary chunks that
//! change how pixels look or animate: transparency, gamma, chromaticities, sRGB, the ICC
//! profile, significant bits, background, physical size, APNG's animation control and frames,
//! and the HDR colour chunks. Dropped: every other ancillary chunk, which a decoder may ignore
//! by definition: text (tEXt, zTXt, iTXt, where XMP lives), eXIf, tIME, and private chunks
//! such as Apple's or C2PA's. An orientation other than the identity is written back as an
//! eXIf holding only that tag.

use img_parts::{
    Bytes, ImageEXIF,
    png::{Png, PngChunk},
};

use super::exif;

const IHDR: [u8; 4] = *b"IHDR";
const IDAT: [u8; 4] = *b"IDAT";
const IEND: [u8; 4] = *b"IEND";
const EXIF: [u8; 4] = *b"eXIf";

const KEPT_ANCILLARY: [[u8; 4]; 14] = [
    *b"tRNS", *b"gAMA", *b"cHRM", *b"sRGB", *b"iCCP", *b"sBIT", *b"bKGD", *b"pHYs", *b"acTL",
    *b"fcTL", *b"fdAT", *b"cICP", *b"mDCV", *b"cLLI",
];

pub(super) fn strip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut png = Png::from_bytes(Bytes::copy_from_slice(bytes)).ok()?;
    if png.chunks().first().map(PngChunk::kind) != Some(IHDR) {
        return None;
    }
    let orientation = png.exif().and_then(|tiff| exif::orientation(&tiff));
    png.chunks_mut().retain(|chunk| is_kept(chunk.kind()));
    if let Some(tiff) = exif::orientation_only(orientation) {
        // Before the image data, where viewers look for it.
        let at = png
            .chunks()
            .iter()
            .position(|chunk| chunk.kind() == IDAT)
            .unwrap_or(png.chunks().len());
        png.chunks_mut()
            .insert(at, PngChunk::new(EXIF, Bytes::from(tiff)));
    }
    if png.chunks().last().map(PngChunk::kind) != Some(IEND) {
        png.chunks_mut().push(PngChunk::new(IEND, Bytes::new()));
    }
    Some(png.encoder().bytes().to_vec())
}

fn is_kept(kind: [u8; 4]) -> bool {
    // Bit 5 of the first letter: clear (upper case) for critical chunks.
    let critical = kind[0] & 0x20 == 0;
    critical || KEPT_ANCILLARY.contains(&kind)
}
