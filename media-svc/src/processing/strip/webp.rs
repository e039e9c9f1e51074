//! WebP: RIFF chunks through img-parts, which reads only as many bytes as the RIFF header
//! declares (so nothing after it survives).
//!
//! Kept: the extended header (VP8X), the ICC profile, the image data (VP8, VP8L, ALPH) and
//! the animation (ANIM, ANMF). Dropped: EXIF, XMP and unknown chunks, with their flags
//! cleared in VP8X. An orientation other than the identity is written back as an EXIF chunk
//! holding only that tag.

use img_parts::{
    Bytes, ImageEXIF,
    riff::RiffContent,
    webp::{
        CHUNK_ALPH, CHUNK_ANIM, CHUNK_ANMF, CHUNK_ICCP, CHUNK_VP8, CHUNK_VP8L, CHUNK_VP8X, WebP,
    },
};

use super::exif;

const KEPT: [[u8; 4]; 7] = [
    CHUNK_VP8X, CHUNK_ICCP, CHUNK_ANIM, CHUNK_ANMF, CHUNK_ALPH, CHUNK_VP8, CHUNK_VP8L,
];

/// VP8X's flag for an XMP chunk, which img-parts leaves as it finds it (it maintains the ICC
/// and EXIF flags itself).
const XMP_FLAG: u8 = 0b0000_0100;

pub(super) fn strip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut webp = WebP::from_bytes(Bytes::copy_from_slice(bytes)).ok()?;
    let has_image = webp
        .chunks()
        .iter()
        .any(|chunk| [CHUNK_VP8, CHUNK_VP8L, CHUNK_ANMF].contains(&chunk.id()));
    if !has_image {
        return None;
    }
    let orientation = webp.exif().and_then(|tiff| exif::orientation(&tiff));
    webp.chunks_mut().retain(|chunk| KEPT.contains(&chunk.id()));
    // Also sets VP8X's EXIF flag to match, or drops VP8X when nothing needs it.
    webp.set_exif(exif::orientation_only(orientation).map(Bytes::from));
    clear_xmp_flag(&mut webp);
    Some(webp.encoder().bytes().to_vec())
}

fn clear_xmp_flag(webp: &mut WebP) {
    let Some(header) = webp
        .chunks_mut()
        .iter_mut()
        .find(|chunk| chunk.id() == CHUNK_VP8X)
    else {
        return;
    };
    if let RiffContent::Data(data) = header.content_mut() {
        let mut flags = data.to_vec();
        if let Some(first) = flags.first_mut() {
            *first &= !XMP_FLAG;
        }
        *data = Bytes::from(flags);
    }
}
