//! The one EXIF tag a stripped image keeps: its orientation, which says how the stored pixels
//! are turned for display. Without it a phone photo, stored sideways, would show sideways.

use image::metadata::Orientation;

/// What an EXIF block says of the orientation, when it says anything valid. `tiff` is the
/// TIFF structure, with or without the `Exif\0\0` prefix JPEG and some WebP writers put first.
pub(super) fn orientation(tiff: &[u8]) -> Option<Orientation> {
    let tiff = tiff.strip_prefix(EXIF_PREFIX).unwrap_or(tiff);
    Orientation::from_exif_chunk(tiff)
}

/// What JPEG's APP1 carries before the TIFF structure.
pub(super) const EXIF_PREFIX: &[u8] = b"Exif\0\0";

/// A TIFF structure (big-endian) with a single IFD holding only the Orientation tag, or `None`
/// when there is nothing to say (no orientation, or the identity).
pub(super) fn orientation_only(orientation: Option<Orientation>) -> Option<Vec<u8>> {
    let value = u16::from(orientation?.to_exif());
    if value == 1 {
        return None;
    }
    const ORIENTATION_TAG: u16 = 0x0112;
    const SHORT: u16 = 3;
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"MM\0\x2a");
    tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 right after this header
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&ORIENTATION_TAG.to_be_bytes());
    tiff.extend_from_slice(&SHORT.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes()); // one value, stored in the entry itself
    tiff.extend_from_slice(&value.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD (no EXIF thumbnail)
    Some(tiff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_orientation_only_block_reads_back_as_the_same_orientation() {
        for value in 2..=8u8 {
            let wanted = Orientation::from_exif(value).unwrap();
            let tiff = orientation_only(Some(wanted)).unwrap();
            assert_eq!(tiff.len(), 26);
            assert_eq!(orientation(&tiff), Some(wanted));
            let mut prefixed = EXIF_PREFIX.to_vec();
            prefixed.extend_from_slice(&tiff);
            assert_eq!(orientation(&prefixed), Some(wanted));
        }
        assert_eq!(orientation_only(Some(Orientation::NoTransforms)), None);
        assert_eq!(orientation_only(None), None);
        assert_eq!(orientation(b"MM\0\x2a"), None);
    }
}
