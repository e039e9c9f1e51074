//! GIF: the blocks walked by hand (img-parts has no GIF), every length checked.
//!
//! Kept: the header, the logical screen and its colour table, every image (descriptor, local
//! colour table, data), graphic control and plain text extensions, and the application
//! extensions that say how to loop (NETSCAPE2.0, ANIMEXTS1.0) or carry the colour profile
//! (ICCRGBG1012). Dropped: comments, every other application extension (XMP among them),
//! unknown extensions, and anything after the trailer.

const EXTENSION: u8 = 0x21;
const IMAGE: u8 = 0x2C;
const TRAILER: u8 = 0x3B;

const PLAIN_TEXT: u8 = 0x01;
const GRAPHIC_CONTROL: u8 = 0xF9;
const APPLICATION: u8 = 0xFF;

/// Application extensions kept, by their identifier and authentication code.
const KEPT_APPLICATIONS: [&[u8; 11]; 3] = [b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012"];

/// The header (`GIF87a` or `GIF89a`) and the logical screen descriptor.
const PREAMBLE_BYTES: usize = 13;
/// An image descriptor after its separator: position, size, flags.
const DESCRIPTOR_BYTES: usize = 9;
/// Flags bit of a global or local colour table, and the bits of its size.
const HAS_TABLE: u8 = 0x80;
const TABLE_SIZE: u8 = 0x07;

pub(super) fn strip(bytes: &[u8]) -> Option<Vec<u8>> {
    let signature = bytes.get(..6)?;
    if signature != b"GIF87a" && signature != b"GIF89a" {
        return None;
    }
    let screen_flags = *bytes.get(10)?;
    let preamble_end = PREAMBLE_BYTES + table_bytes(screen_flags);
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..preamble_end)?);
    let mut images = 0usize;
    let mut at = preamble_end;
    // Each step moves `at` forward by at least one block, so this ends.
    while let Some(&introducer) = bytes.get(at) {
        let block_end = match introducer {
            EXTENSION => {
                let label = *bytes.get(at + 1)?;
                let end = sub_blocks_end(bytes, at + 2);
                let kept = end.is_some_and(|end| {
                    bytes
                        .get(at + 2..end)
                        .is_some_and(|blocks| is_kept_extension(label, blocks))
                });
                end.map(|end| (end, kept))
            }
            IMAGE => image_end(bytes, at).map(|end| (end, true)),
            // The trailer, or bytes where a block should start: the image ends here, as it
            // does for browsers.
            _ => break,
        };
        let Some((end, kept)) = block_end else {
            // Cut short inside a block: what came before still shows.
            break;
        };
        if kept {
            out.extend_from_slice(bytes.get(at..end)?);
        }
        if introducer == IMAGE {
            images += 1;
        }
        at = end;
    }
    if images == 0 {
        return None;
    }
    out.push(TRAILER);
    Some(out)
}

/// Bytes of the colour table that `flags` announce, if any.
fn table_bytes(flags: u8) -> usize {
    if flags & HAS_TABLE == 0 {
        return 0;
    }
    3 << ((flags & TABLE_SIZE) + 1)
}

/// Where the image whose separator is at `at` ends.
fn image_end(bytes: &[u8], at: usize) -> Option<usize> {
    let descriptor = bytes.get(at + 1..at + 1 + DESCRIPTOR_BYTES)?;
    let flags = *descriptor.last()?;
    let code_size_at = at + 1 + DESCRIPTOR_BYTES + table_bytes(flags);
    bytes.get(code_size_at)?;
    sub_blocks_end(bytes, code_size_at + 1)
}

/// Where the data sub-blocks starting at `at` end: after the empty block that closes them.
fn sub_blocks_end(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let size = usize::from(*bytes.get(at)?);
        at += 1;
        if size == 0 {
            return Some(at);
        }
        at += size;
    }
}

fn is_kept_extension(label: u8, blocks: &[u8]) -> bool {
    match label {
        GRAPHIC_CONTROL | PLAIN_TEXT => true,
        // The first sub-block holds 11 bytes: the identifier and authentication code.
        APPLICATION => blocks.get(..12).is_some_and(|first| {
            first.split_first().is_some_and(|(&size, identifier)| {
                size == 11 && KEPT_APPLICATIONS.iter().any(|kept| kept[..] == *identifier)
            })
        }),
        _ => false,
    }
}
