//! What media-svc makes of a file's name and first bytes (media-svc/src/processing/sniff.rs
//! and names.rs): the stored type, the cleaned name, and the `Content-Disposition` header.
//!
//! The first byte is the length of the name, the next bytes (as lossy UTF-8) the name, the
//! rest the file's first bytes. Besides not panicking: only the four image types are images
//! and inline; text is plain text only under a text extension; a cleaned name is 1–255 bytes
//! with no path, control, bidi or zero-width character, nor a leading dot or space, and
//! cleaning it again changes nothing; the header is visible ASCII for any name, and its
//! `filename*` decodes back to the name.

#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_media_svc::processing::{
    Disposition, ImageFormat, MAX_NAME_BYTES, clean_name, content_disposition, disposition,
    sniff,
};

/// Bidi embeddings, overrides, isolates and marks, the zero-width space and the BOM.
const NEVER_KEPT: [char; 14] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
    '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}', '\u{FEFF}',
];

fuzz_target!(|data: &[u8]| {
    let Some((&name_length, rest)) = data.split_first() else {
        return;
    };
    let (name, head) = rest.split_at(usize::from(name_length).min(rest.len()));
    let name = String::from_utf8_lossy(name);

    let sniffed = sniff(head, &name);
    assert_eq!(sniffed.image, ImageFormat::from_mime(sniffed.mime));
    let inline = disposition(sniffed.mime) == Disposition::Inline;
    assert_eq!(inline, sniffed.image.is_some(), "{}", sniffed.mime);
    assert!(!sniffed.mime.contains("html") && !sniffed.mime.contains("xml"));

    let cleaned = clean_name(&name);
    if sniffed.mime.starts_with("text/") {
        let cleaned = cleaned.as_deref().unwrap_or_default().to_lowercase();
        assert!(
            [".txt", ".md", ".csv"].iter().any(|extension| cleaned.ends_with(extension)),
            "text without a text extension: {cleaned:?}"
        );
    }
    if let Some(cleaned) = &cleaned {
        assert!(!cleaned.is_empty() && cleaned.len() <= MAX_NAME_BYTES, "{cleaned:?}");
        assert!(
            !cleaned
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control() || NEVER_KEPT.contains(&c)),
            "{cleaned:?} keeps a path or hidden character"
        );
        assert!(
            !cleaned.starts_with(|c: char| c == '.' || c.is_whitespace())
                && !cleaned.ends_with(char::is_whitespace),
            "{cleaned:?}"
        );
        assert_eq!(clean_name(cleaned).as_ref(), Some(cleaned), "not idempotent");
    }

    for (disposition, name) in [
        (Disposition::Inline, cleaned.as_deref().unwrap_or_default()),
        (Disposition::Attachment, &*name),
    ] {
        let header = content_disposition(disposition, name);
        assert!(
            header.bytes().all(|byte| (b' '..=b'~').contains(&byte)),
            "{header:?}"
        );
        assert!(http::HeaderValue::from_str(&header).is_ok());
        if name.is_empty() {
            continue;
        }
        let encoded = header
            .split_once("filename*=UTF-8''")
            .map(|(_, encoded)| encoded)
            .unwrap_or_else(|| panic!("no filename* in {header:?}"));
        assert_eq!(percent_decoded(encoded), name.as_bytes(), "{header:?}");
    }
});

fn percent_decoded(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%' {
            let hex = std::str::from_utf8(&bytes[at + 1..at + 3]).unwrap();
            decoded.push(u8::from_str_radix(hex, 16).unwrap());
            at += 3;
        } else {
            decoded.push(byte);
            at += 1;
        }
    }
    decoded
}
