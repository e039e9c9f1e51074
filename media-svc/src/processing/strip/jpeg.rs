//! JPEG: the markers walked by hand, entropy-coded scans included, so that the file ends at
//! its first EOI. img-parts keeps everything after the first scan header as one opaque
//! blob, which would keep comments between progressive scans, MPF secondary images (a
//! phone's depth map or HDR gain map, each with its own EXIF) and whatever a polyglot
//! appends after the image.
//!
//! Kept: the coding segments (tables, frame and scan headers, scans, restart intervals), APP0
//! JFIF (without its embedded thumbnail), APP2 ICC profiles and APP14 Adobe (it says how to
//! read the colour channels). Dropped: every other APPn (EXIF and XMP in APP1, MPF in APP2,
//! IPTC in APP13, maker data), COM, stray restart markers and bytes between segments. A
//! minimal EXIF holding only the orientation is written back after the JFIF header.

use std::borrow::Cow;

use super::exif;

const MARKER: u8 = 0xFF;
const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;
const APP15: u8 = 0xEF;
const COM: u8 = 0xFE;
/// Restart markers, which sit inside entropy-coded data.
const RST: std::ops::RangeInclusive<u8> = 0xD0..=0xD7;
/// Standalone: no length follows.
const TEM: u8 = 0x01;

const JFIF: &[u8] = b"JFIF\0";
/// `JFIF\0`, version, density units, X and Y density, thumbnail width and height.
const JFIF_HEADER_BYTES: usize = 14;
const ICC: &[u8] = b"ICC_PROFILE\0";
const ADOBE: &[u8] = b"Adobe";

pub(super) fn strip(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(..2)? != [MARKER, SOI] {
        return None;
    }
    let mut kept: Vec<Cow<'_, [u8]>> = Vec::new();
    let mut orientation = None;
    let mut exif_seen = false;
    let mut scanned = false;
    let mut at = 2;
    loop {
        let Some((marker, after_marker)) = next_marker(bytes, at) else {
            // Cut short inside or after a scan: keep what there is and end it properly, as
            // decoders show the part that arrived. Without a scan it is no image.
            if !scanned {
                return None;
            }
            break;
        };
        let marker_start = after_marker - 2;
        match marker {
            EOI => break,
            SOI | 0x00 => return None,
            TEM => at = after_marker,
            _ if RST.contains(&marker) => at = after_marker,
            _ => {
                let Some((payload, end)) = segment_payload(bytes, after_marker) else {
                    // Cut short in a segment: as above.
                    if !scanned {
                        return None;
                    }
                    break;
                };
                if marker == APP1 && !exif_seen && payload.starts_with(exif::EXIF_PREFIX) {
                    // The first EXIF block is the one viewers read the orientation from.
                    exif_seen = true;
                    orientation = exif::orientation(payload);
                }
                if let Some(segment) = kept_segment(marker, payload, bytes.get(marker_start..end)?)
                {
                    kept.push(segment);
                }
                at = end;
                if marker == SOS {
                    let scan_end = entropy_end(bytes, at);
                    kept.push(Cow::Borrowed(bytes.get(at..scan_end)?));
                    at = scan_end;
                    scanned = true;
                }
            }
        }
    }
    if !scanned {
        return None;
    }
    let jfif_first = kept
        .first()
        .is_some_and(|segment| segment.get(1) == Some(&APP0));
    if let Some(tiff) = exif::orientation_only(orientation) {
        kept.insert(usize::from(jfif_first), Cow::Owned(exif_segment(&tiff)?));
    }
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&[MARKER, SOI]);
    for segment in &kept {
        out.extend_from_slice(segment);
    }
    out.extend_from_slice(&[MARKER, EOI]);
    Some(out)
}

/// The next marker at or after `at`: its code and the position just after it. Bytes that
/// are not a marker are skipped, as decoders skip them, and so are fill bytes (`0xFF` runs).
fn next_marker(bytes: &[u8], at: usize) -> Option<(u8, usize)> {
    let rest = bytes.get(at..)?;
    let first = at + rest.iter().position(|&byte| byte == MARKER)?;
    let after_fill = first
        + bytes
            .get(first..)?
            .iter()
            .position(|&byte| byte != MARKER)?;
    Some((*bytes.get(after_fill)?, after_fill + 1))
}

/// The payload of the segment whose length field starts at `at`, and where the segment ends;
/// `None` when the bytes end first or the length is less than its own two bytes.
fn segment_payload(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let length = u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]);
    let end = at + usize::from(length);
    Some((bytes.get(at + 2..end)?, end))
}

/// Where the entropy-coded data starting at `at` ends: at the first marker that is neither a
/// stuffed `0xFF 0x00` nor a restart marker, or at the end of the bytes.
fn entropy_end(bytes: &[u8], mut at: usize) -> usize {
    loop {
        let Some(offset) = bytes
            .get(at..)
            .and_then(|rest| rest.iter().position(|&b| b == MARKER))
        else {
            return bytes.len();
        };
        let marker_at = at + offset;
        match bytes.get(marker_at + 1) {
            None => return bytes.len(),
            Some(0x00) => at = marker_at + 2,
            Some(code) if RST.contains(code) => at = marker_at + 2,
            Some(&MARKER) => at = marker_at + 1,
            Some(_) => return marker_at,
        }
    }
}

/// The segment as it goes into the stripped file, or `None` to drop it. `whole` is the
/// segment from its marker to the end of its payload.
fn kept_segment<'a>(marker: u8, payload: &[u8], whole: &'a [u8]) -> Option<Cow<'a, [u8]>> {
    let keep = match marker {
        APP0 => return jfif_without_thumbnail(payload),
        APP2 => payload.starts_with(ICC),
        APP14 => payload.starts_with(ADOBE),
        APP1..=APP15 | COM => false,
        _ => true,
    };
    keep.then_some(Cow::Borrowed(whole))
}

/// The JFIF header with no thumbnail: a thumbnail may show what an edit cropped out.
fn jfif_without_thumbnail(payload: &[u8]) -> Option<Cow<'static, [u8]>> {
    if !payload.starts_with(JFIF) {
        return None;
    }
    let mut header = payload.get(..JFIF_HEADER_BYTES)?.to_vec();
    if let Some(thumbnail_size) = header.get_mut(JFIF_HEADER_BYTES - 2..) {
        thumbnail_size.fill(0);
    }
    Some(Cow::Owned(segment(APP0, &header)?))
}

fn exif_segment(tiff: &[u8]) -> Option<Vec<u8>> {
    let mut payload = exif::EXIF_PREFIX.to_vec();
    payload.extend_from_slice(tiff);
    segment(APP1, &payload)
}

/// A marker segment: the marker, the length (which counts itself) and the payload.
fn segment(marker: u8, payload: &[u8]) -> Option<Vec<u8>> {
    let length = u16::try_from(payload.len() + 2).ok()?;
    let mut segment = Vec::with_capacity(payload.len() + 4);
    segment.extend_from_slice(&[MARKER, marker]);
    segment.extend_from_slice(&length.to_be_bytes());
    segment.extend_from_slice(payload);
    Some(segment)
}
