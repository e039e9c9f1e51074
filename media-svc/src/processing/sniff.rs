//! The stored type of a file, from its first bytes (docs/API.md "Attachments": the type comes
//! from the bytes' own signature, never the client's word).

use super::{ImageFormat, names::clean_name};

/// How many leading bytes [`sniff`] looks at: enough for every signature `infer` knows
/// (the deepest, tar's, sits at 257) and for a meaningful UTF-8 check of a text file.
pub const SNIFF_BYTES: usize = 8192;

/// Types a text file gets when its name says so and its bytes are UTF-8.
const TEXT_EXTENSIONS: [&str; 3] = ["txt", "md", "csv"];

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const OCTET_STREAM: &str = "application/octet-stream";

/// What [`sniff`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    /// The MIME type the file is stored and served with.
    pub mime: &'static str,
    /// Set for the four formats that become images (if they also decode).
    pub image: Option<ImageFormat>,
}

/// The type from the bytes' own signature (`infer`), never the client's word. Unknown bytes
/// are `application/octet-stream`, except `text/plain; charset=utf-8` when `head` is valid
/// UTF-8 (a multi-byte character cut at the end of `head` allowed) and the cleaned `name` ends
/// in `.txt`, `.md` or `.csv`.
///
/// `infer`'s text guesses (HTML, XML, shell scripts) are not signatures but a look at the first
/// tag, so they count as unknown: an HTML page is never labelled as one, whatever its name.
pub fn sniff(head: &[u8], name: &str) -> Sniffed {
    let head = head.get(..SNIFF_BYTES).unwrap_or(head);
    let signature = infer::get(head).filter(|kind| kind.matcher_type() != infer::MatcherType::Text);
    if let Some(kind) = signature {
        let mime = kind.mime_type();
        return Sniffed {
            mime,
            image: ImageFormat::from_mime(mime),
        };
    }
    let mime = if has_text_extension(name) && is_utf8_prefix(head) {
        TEXT_PLAIN
    } else {
        OCTET_STREAM
    };
    Sniffed { mime, image: None }
}

fn has_text_extension(name: &str) -> bool {
    let Some(name) = clean_name(name) else {
        return false;
    };
    name.rsplit_once('.').is_some_and(|(stem, extension)| {
        !stem.is_empty()
            && TEXT_EXTENSIONS
                .iter()
                .any(|text| text.eq_ignore_ascii_case(extension))
    })
}

/// Valid UTF-8, or valid up to a character that the end of `head` cut short.
fn is_utf8_prefix(head: &[u8]) -> bool {
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_html_page_named_like_a_png_is_an_opaque_download() {
        let page = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>";
        let sniffed = sniff(page, "cat.png");
        assert_eq!(sniffed.mime, OCTET_STREAM);
        assert_eq!(sniffed.image, None);
        // Even when named as a page: the name never decides the type.
        assert_eq!(sniff(page, "page.html").mime, OCTET_STREAM);
    }

    #[test]
    fn the_signature_wins_over_the_name() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let sniffed = sniff(png, "notes.txt");
        assert_eq!(sniffed.mime, "image/png");
        assert_eq!(sniffed.image, Some(ImageFormat::Png));
        assert_eq!(sniff(b"%PDF-1.7\n", "a.jpg").mime, "application/pdf");
        assert_eq!(sniff(b"%PDF-1.7\n", "a.jpg").image, None);
        let gif = sniff(b"GIF89a\x01\x00\x01\x00", "x");
        assert_eq!(gif.image, Some(ImageFormat::Gif));
        let webp = sniff(b"RIFF\x10\0\0\0WEBPVP8 ", "x");
        assert_eq!(webp.image, Some(ImageFormat::Webp));
        let jpeg = sniff(b"\xff\xd8\xff\xe0\0\x10JFIF\0", "x");
        assert_eq!(jpeg.image, Some(ImageFormat::Jpeg));
    }

    #[test]
    fn utf8_named_as_text_is_plain_text_and_anything_else_is_opaque() {
        assert_eq!(
            sniff("héllo, wörld".as_bytes(), "notes.TXT").mime,
            TEXT_PLAIN
        );
        assert_eq!(sniff(b"a,b\n1,2\n", "data.csv").mime, TEXT_PLAIN);
        assert_eq!(sniff(b"# Title\n", "README.md").mime, TEXT_PLAIN);
        assert_eq!(sniff(b"hello", "notes.text").mime, OCTET_STREAM);
        assert_eq!(sniff(b"hello", "txt").mime, OCTET_STREAM);
        assert_eq!(sniff(b"\xff\xfe\x00h", "notes.txt").mime, OCTET_STREAM);
        // The cleaned name decides: a bidi override cannot make `txt.exe` look like text.
        assert_eq!(sniff(b"hello", "evil\u{202E}txt.exe").mime, OCTET_STREAM);
        assert_eq!(sniff(b"hello", "dir/notes.txt\u{200B}").mime, TEXT_PLAIN);
    }

    #[test]
    fn a_character_cut_at_the_end_of_the_head_is_still_text() {
        let mut head = "a".repeat(SNIFF_BYTES - 1).into_bytes();
        head.extend_from_slice("é".as_bytes());
        assert_eq!(sniff(&head, "long.txt").mime, TEXT_PLAIN);
        // A broken character before the end is not.
        let mut broken = b"ab\xc3".to_vec();
        broken.extend_from_slice(b"cd");
        assert_eq!(sniff(&broken, "short.txt").mime, OCTET_STREAM);
    }
}
