//! File names as the client gave them, made safe to show and to put in a header, and how a
//! download presents itself to the browser (docs/API.md "Attachments": `inline` only for
//! JPEG, PNG, GIF and WebP). A name is never part of a storage key.

use icu_properties::{
    CodePointMapData, CodePointSetData,
    props::{BidiControl, DefaultIgnorableCodePoint, GeneralCategory},
};
use parley_common::media_url::encode_path_segment;
use unicode_normalization::UnicodeNormalization;

use super::ImageFormat;

/// The longest cleaned name, in bytes of UTF-8: what most file systems take.
pub const MAX_NAME_BYTES: usize = 255;

/// A tail after the last dot longer than this (the dot included) is not an extension worth
/// keeping when a name is cut.
const MAX_EXTENSION_BYTES: usize = 32;

/// The client's file name made safe to show and to put in `Content-Disposition`:
/// - only what follows the last `/` or `\` (a path never names the file);
/// - control characters, bidi controls (an RLO makes `gpj.exe` read `exe.jpg`), line and
///   paragraph separators and other invisible characters (format and default-ignorable
///   ones: zero-width spaces and joiners, the BOM, soft hyphens, tags) dropped;
/// - NFC, so that one name has one spelling;
/// - leading dots and white space trimmed (no hidden files, no `..`), trailing white space
///   too;
/// - at most [`MAX_NAME_BYTES`], cut on a character boundary, keeping the extension when it
///   is short enough to be one.
///
/// `None` when nothing is left.
pub fn clean_name(name: &str) -> Option<String> {
    let last_part = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let visible: String = last_part.chars().filter(|&c| !is_hidden(c)).collect();
    let normalized: String = visible.nfc().collect();
    let trimmed = normalized
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    let fitted = fit(trimmed, MAX_NAME_BYTES);
    (!fitted.is_empty()).then_some(fitted)
}

/// Characters a name never keeps: they show nothing, or change how the rest reads.
fn is_hidden(c: char) -> bool {
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    c.is_control()
        || matches!(
            category,
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
        || CodePointSetData::new::<BidiControl>().contains(c)
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// `name` in at most `max` bytes: the stem is cut and the extension kept when there is one.
fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    if let Some((stem, extension)) = name.rsplit_once('.') {
        let extension_bytes = extension.len() + 1;
        if !stem.is_empty() && !extension.is_empty() && extension_bytes <= MAX_EXTENSION_BYTES {
            let stem = prefix_within(stem, max.saturating_sub(extension_bytes)).trim_end();
            if !stem.is_empty() {
                return format!("{stem}.{extension}");
            }
        }
    }
    prefix_within(name, max).trim_end().to_owned()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn prefix_within(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// How a browser should present a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Shown in the page: the four image types, whose decoders run no script.
    Inline,
    /// Saved as a file: everything else, SVG, HTML, PDF and text included.
    Attachment,
}

/// `Inline` only for `image/jpeg`, `image/png`, `image/gif` and `image/webp` (parameters and
/// case ignored); every other type is an `Attachment`.
pub fn disposition(mime: &str) -> Disposition {
    if ImageFormat::from_mime(mime).is_some() {
        Disposition::Inline
    } else {
        Disposition::Attachment
    }
}

/// ASCII punctuation the `filename` fallback keeps. Not `"` and `\` (quoting), `%` (some
/// clients decode it), `;`, `=` and `*` (a naive parser could read a second parameter in
/// the quoted name), nor what Windows refuses in a file name (`/:<>?|`).
const FALLBACK_PUNCTUATION: &str = " !#$&'()+,-.@[]^_`{}~";

/// The `Content-Disposition` header value (RFC 6266): `inline` or `attachment`, then
/// `filename="…"`, an ASCII fallback for old clients in which every character but letters,
/// digits and [`FALLBACK_PUNCTUATION`] is replaced by `_`, and `filename*=UTF-8''…`, the name
/// itself percent-encoded (RFC 8187). Always visible ASCII, whatever `name` holds; an empty
/// name gives the bare disposition.
pub fn content_disposition(disposition: Disposition, name: &str) -> String {
    let kind = match disposition {
        Disposition::Inline => "inline",
        Disposition::Attachment => "attachment",
    };
    if name.is_empty() {
        return kind.to_owned();
    }
    let fallback: String = name
        .chars()
        .map(|c| {
            let plain = c.is_ascii_alphanumeric() || FALLBACK_PUNCTUATION.contains(c);
            if plain { c } else { '_' }
        })
        .collect();
    format!(
        "{kind}; filename=\"{fallback}\"; filename*=UTF-8''{}",
        encode_path_segment(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_right_to_left_override_cannot_disguise_an_executable() {
        // Shown as `photo_gpj.exe` reversed: `photo_exe.jpg`.
        assert_eq!(
            clean_name("photo_\u{202E}gpj.exe").as_deref(),
            Some("photo_gpj.exe")
        );
        for control in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{2066}', '\u{2067}', '\u{2068}',
            '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
        ] {
            assert_eq!(
                clean_name(&format!("a{control}b.txt")).as_deref(),
                Some("ab.txt")
            );
        }
    }

    #[test]
    fn control_and_invisible_characters_are_dropped() {
        assert_eq!(
            clean_name("re\0port\r\n.pdf").as_deref(),
            Some("report.pdf")
        );
        assert_eq!(
            clean_name("in\u{200B}vi\u{FEFF}si\u{00AD}ble\u{2028}.png").as_deref(),
            Some("invisible.png")
        );
        assert_eq!(
            clean_name("\u{E0041}tag\u{E007F}.txt").as_deref(),
            Some("tag.txt")
        );
        assert_eq!(clean_name("\u{200B}\u{202E}\0"), None);
    }

    #[test]
    fn a_path_never_names_the_file() {
        assert_eq!(clean_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(
            clean_name("C:\\Users\\me\\Desktop\\cv.docx").as_deref(),
            Some("cv.docx")
        );
        assert_eq!(clean_name(".."), None);
        assert_eq!(clean_name("dir/"), None);
        assert_eq!(clean_name("a/..\\.. . hidden").as_deref(), Some("hidden"));
        assert_eq!(clean_name(".bashrc").as_deref(), Some("bashrc"));
        assert_eq!(clean_name("  spaced  ").as_deref(), Some("spaced"));
    }

    #[test]
    fn one_name_has_one_spelling() {
        let decomposed = "Cafe\u{0301}.jpg";
        assert_eq!(clean_name(decomposed).as_deref(), Some("Caf\u{E9}.jpg"));
        // A joiner between a letter and its accent does not keep them apart.
        assert_eq!(
            clean_name("Cafe\u{200D}\u{0301}.jpg").as_deref(),
            Some("Caf\u{E9}.jpg")
        );
    }

    #[test]
    fn a_long_name_is_cut_on_a_character_boundary_and_keeps_its_extension() {
        let long = format!("{}.jpeg", "é".repeat(200));
        let cut = clean_name(&long).unwrap();
        assert!(cut.len() <= MAX_NAME_BYTES, "{} bytes", cut.len());
        assert!(cut.ends_with("é.jpeg"), "{cut}");
        assert_eq!(cut.len(), 250 + ".jpeg".len());

        // A tail too long to be an extension is cut like the rest.
        let no_extension = format!("a.{}", "b".repeat(300));
        let cut = clean_name(&no_extension).unwrap();
        assert_eq!(cut.len(), MAX_NAME_BYTES);
        assert!(cut.starts_with("a.bbb"));

        // Cleaning is idempotent, cut names included.
        for name in [long, no_extension, format!("{}   x", "y".repeat(253))] {
            let once = clean_name(&name).unwrap();
            assert_eq!(clean_name(&once).as_deref(), Some(once.as_str()));
        }
    }

    #[test]
    fn only_the_four_image_types_are_inline() {
        for mime in ["image/jpeg", "image/png", "image/gif", "IMAGE/WEBP"] {
            assert_eq!(disposition(mime), Disposition::Inline, "{mime}");
        }
        for mime in [
            "image/svg+xml",
            "text/html",
            "application/pdf",
            "text/plain; charset=utf-8",
            "application/octet-stream",
            "image/avif",
            "image/heif",
            "image/tiff",
            "",
        ] {
            assert_eq!(disposition(mime), Disposition::Attachment, "{mime}");
        }
    }

    #[test]
    fn content_disposition_escapes_the_fallback_and_encodes_the_name() {
        assert_eq!(
            content_disposition(Disposition::Inline, "cat.png"),
            "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png"
        );
        assert_eq!(
            content_disposition(Disposition::Attachment, "a \"quoted\" \\ 100%.pdf"),
            "attachment; filename=\"a _quoted_ _ 100_.pdf\"; \
             filename*=UTF-8''a%20%22quoted%22%20%5C%20100%25.pdf"
        );
        assert_eq!(
            content_disposition(Disposition::Attachment, "résumé 履歴書.pdf"),
            "attachment; filename=\"r_sum_ ___.pdf\"; \
             filename*=UTF-8''r%C3%A9sum%C3%A9%20%E5%B1%A5%E6%AD%B4%E6%9B%B8.pdf"
        );
        // A second parameter hidden in the name stays part of the name, even for a naive
        // parser that does not know quoting.
        let smuggled = content_disposition(
            Disposition::Attachment,
            "a.txt\"; filename*=UTF-8''evil.exe",
        );
        assert_eq!(smuggled.matches("filename*=").count(), 1, "{smuggled}");
        assert!(
            smuggled.starts_with("attachment; filename=\"a.txt__ filename__UTF-8''evil.exe\";")
        );
        // A header injection attempt stays inside the value.
        let injected = content_disposition(Disposition::Attachment, "x\r\nSet-Cookie: a=b");
        assert!(injected.bytes().all(|byte| (b' '..=b'~').contains(&byte)));
        assert!(http::HeaderValue::from_str(&injected).is_ok());
        assert_eq!(
            content_disposition(Disposition::Attachment, ""),
            "attachment"
        );
    }
}
