//! Usernames: what a token's name becomes, and the keys that make look-alike names one name
//! (docs/decisions/0008-friends-hardening.md).
//!
//! Two keys per name, both computed here because SQL cannot compute them:
//! - the folded key (NFKC, full Unicode case folding, NFKC again): `Alice`, `ALICE` and
//!   full-width `ａｌｉｃｅ` are one key, and so are `Straße` and `STRASSE`. Requests by
//!   username and `search-users` match it.
//! - the skeleton (Unicode TR39) of the folded key: a Cyrillic `аlice` or `a1ice` has the
//!   skeleton of `alice`. It is the unique one: a name whose skeleton another user holds is
//!   not theirs to take, and the newcomer gets a suffix as for any clash.

use icu_casemap::CaseMapper;
use icu_properties::{
    CodePointMapData, CodePointSetData,
    props::{BidiControl, DefaultIgnorableCodePoint, ExtendedPictographic, GeneralCategory},
};
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

use super::UserId;
use crate::error::Error;

/// Longest username a token may ask for (the edge cuts longer ones to this).
pub const MAX_USERNAME_CHARS: usize = 64;

/// A username as a token asks for it, 1–64 characters once cleaned: control characters,
/// bidi controls (which can make `gpj.exe` read as `exe.jpg`) and invisible characters
/// (default-ignorable and format characters: zero-width spaces and joiners, the BOM, soft
/// hyphens, tags) are dropped, except where an emoji sequence needs them (a ZWJ between two
/// emoji, an emoji presentation selector, a flag's tags). A name is never refused for
/// holding them, only when nothing is left.
pub fn requested_username(raw: &str) -> Result<String, Error> {
    let cleaned = without_invisible_characters(raw);
    let name = cleaned.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_USERNAME_CHARS {
        return Err(Error::invalid(
            "username",
            format!("must be 1–{MAX_USERNAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

/// `raw` without the characters a name never keeps (see [`requested_username`]); a search
/// query goes through it too, so that `ali` + U+200B + `ce` still finds `alice`.
pub fn without_invisible_characters(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    let mut kept = String::with_capacity(raw.len());
    for (at, &c) in chars.iter().enumerate() {
        let previous = kept.chars().next_back();
        let next = chars.get(at + 1).copied();
        let dropped = c.is_control()
            || CodePointSetData::new::<BidiControl>().contains(c)
            || (is_invisible(c) && !joins_an_emoji(previous, c, next));
        if !dropped {
            kept.push(c);
        }
    }
    kept
}

fn is_invisible(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
}

/// Whether the invisible `c`, between `previous` (as kept) and `next`, is part of an emoji
/// sequence that renders differently without it.
fn joins_an_emoji(previous: Option<char>, c: char, next: Option<char>) -> bool {
    let emoji = |c: Option<char>| {
        c.is_some_and(|c| CodePointSetData::new::<ExtendedPictographic>().contains(c))
    };
    const ZWJ: char = '\u{200D}';
    const EMOJI_STYLE: char = '\u{FE0F}';
    const KEYCAP: char = '\u{20E3}';
    const BLACK_FLAG: char = '\u{1F3F4}';
    let tag = |c: Option<char>| c.is_some_and(|c| ('\u{E0020}'..='\u{E007F}').contains(&c));
    match c {
        // 👨‍👩‍👧: the joiner follows an emoji (or its presentation selector) and precedes one.
        ZWJ => (emoji(previous) || previous == Some(EMOJI_STYLE)) && emoji(next),
        // ❤️, and keycaps such as 1️⃣.
        EMOJI_STYLE => {
            emoji(previous)
                || (previous.is_some_and(|p| p.is_ascii_digit() || p == '#' || p == '*')
                    && next == Some(KEYCAP))
        }
        // Subdivision flags: 🏴 followed by tag letters and a cancel tag.
        '\u{E0020}'..='\u{E007E}' => previous == Some(BLACK_FLAG) || tag(previous),
        '\u{E007F}' => tag(previous),
        _ => false,
    }
}

/// The folded key: NFKC, full case folding, then NFKC again (folding can undo a
/// normalization), which is Unicode's NFKC_Casefold for names that hold no invisible
/// characters. Full folding rather than `to_lowercase`: lowercasing leaves `ß` and `ss`,
/// or `ς` and `σ`, apart.
pub fn username_key(username: &str) -> String {
    let compatible: String = username.nfkc().collect();
    CaseMapper::new().fold_string(&compatible).nfkc().collect()
}

/// The TR39 confusable skeleton of the folded key: the form under which usernames are
/// unique, so that no two users hold names that look alike.
pub fn username_skeleton(username: &str) -> String {
    unicode_security::skeleton(&username_key(username)).collect()
}

/// The name a user gets when nothing of the stored name is usable (a row stored before
/// invisible characters were dropped): the edge's name for a token without one.
pub fn default_username(user_id: UserId) -> String {
    let id = user_id.0.simple().to_string();
    format!("user-{}", id.get(..8).unwrap_or(&id))
}

/// The names a user gets, best first, when another user already holds `requested` or a
/// name that looks like it.
///
/// The newer claimant gets the name with a suffix made of its own id (`alice-1f3a`), longer
/// if that is taken too. Ids are public, so someone could take those on purpose: random
/// suffixes follow, and a connection is never refused over a name.
pub fn username_fallbacks(requested: &str, user_id: UserId) -> Vec<String> {
    let id = user_id.0.simple().to_string();
    let mut fallbacks = Vec::with_capacity(2 + RANDOM_SUFFIX_TRIES);
    for length in [4, 8] {
        let suffix: String = id.chars().take(length).collect();
        fallbacks.push(format!("{requested}-{suffix}"));
    }
    for _ in 0..RANDOM_SUFFIX_TRIES {
        let random: String = Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .take(12)
            .collect();
        fallbacks.push(format!("{requested}-{random}"));
    }
    fallbacks
}

/// Random suffixes tried after the id-based ones; 48 random bits each.
pub(super) const RANDOM_SUFFIX_TRIES: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_bounded() {
        assert_eq!(requested_username("  Alice ").unwrap(), "Alice");
        assert!(requested_username("   ").is_err());
        assert!(requested_username(&"x".repeat(65)).is_err());
        assert_eq!(requested_username("a\u{0}b\n").unwrap(), "ab");
    }

    #[test]
    fn invisible_and_bidi_characters_go_but_emoji_sequences_stay() {
        for (raw, clean) in [
            ("\u{202E}evil\u{202C}", "evil"),
            ("a\u{200B}b\u{200C}c\u{200D}d\u{2060}e\u{FEFF}", "abcde"),
            ("\u{2066}x\u{2069}\u{061C}\u{200E}\u{200F}", "x"),
            ("x\u{00AD}\u{180E}\u{E0041}", "x"),
            ("x\u{FE0F}", "x"),
            ("\u{1F469}\u{200D}\u{1F4BB}", "\u{1F469}\u{200D}\u{1F4BB}"),
            (
                "\u{2764}\u{FE0F}\u{200D}\u{1F525}",
                "\u{2764}\u{FE0F}\u{200D}\u{1F525}",
            ),
            ("1\u{FE0F}\u{20E3}", "1\u{FE0F}\u{20E3}"),
            (
                "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
                "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            ),
            // A joiner at either end of an emoji joins nothing.
            ("\u{1F469}\u{200D}", "\u{1F469}"),
            // A doubled joiner is one joiner.
            (
                "\u{1F469}\u{200D}\u{200D}\u{1F4BB}",
                "\u{1F469}\u{200D}\u{1F4BB}",
            ),
        ] {
            assert_eq!(requested_username(raw).unwrap(), clean, "{raw:?}");
        }
        assert!(requested_username("\u{200B}\u{202E}").is_err());
    }

    #[test]
    fn the_key_folds_case_and_compatibility_forms() {
        for (a, b) in [
            ("Alice", "aLiCe"),
            ("ａｌｉｃｅ", "alice"),
            ("Straße", "STRASSE"),
            ("ΣΊΣΥΦΟΣ", "σίσυφος"),
            ("e\u{301}", "É"),
            ("ﬁ", "FI"),
        ] {
            assert_eq!(username_key(a), username_key(b), "{a} / {b}");
        }
        assert_ne!(username_key("alice"), username_key("\u{0430}lice"));
    }

    #[test]
    fn look_alikes_across_scripts_share_a_skeleton() {
        let alice = username_skeleton("alice");
        for look_alike in [
            "\u{0430}lice",
            "ａｌｉｃｅ",
            "ALICE",
            "a1ice",
            "al\u{0456}ce",
        ] {
            assert_eq!(username_skeleton(look_alike), alice, "{look_alike}");
        }
        assert_ne!(username_skeleton("alicia"), alice);
        assert_ne!(username_skeleton("bob"), alice);
    }

    /// The names in the order the service tries them: the requested one, then the fallbacks.
    fn username_candidates(requested: &str, user_id: Uuid) -> Vec<String> {
        std::iter::once(requested.to_owned())
            .chain(username_fallbacks(requested, UserId(user_id)))
            .collect()
    }

    #[test]
    fn a_clash_falls_back_to_suffixes_of_the_users_own_id_then_random_ones() {
        let id = Uuid::parse_str("1f3a5b7c-0000-4000-8000-000000000000").unwrap();
        let candidates = username_candidates("alice", id);
        assert_eq!(candidates[..3], ["alice", "alice-1f3a", "alice-1f3a5b7c"]);
        assert_eq!(candidates.len(), 3 + RANDOM_SUFFIX_TRIES);
        let random = &candidates[3..];
        assert!(
            random
                .iter()
                .all(|name| name.starts_with("alice-") && name.len() == 18)
        );
        assert_ne!(random[0], random[1]);
        assert_eq!(default_username(UserId(id)), "user-1f3a5b7c");
    }
}
