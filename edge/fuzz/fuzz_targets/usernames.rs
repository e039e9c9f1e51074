//! Usernames: what friends-svc makes of a token's `name` (friends-svc/src/domain/username.rs):
//! the cleaning of bidi controls and invisible characters, the folded key and the confusable
//! skeleton that make look-alike names one name.
//!
//! The input, as (lossy) UTF-8, is the name. Besides not panicking: an accepted name is 1–64
//! characters, keeps no bidi control, no control character and no zero-width space; cleaning
//! and folding are idempotent, so a stored name finds itself again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_friends_svc::domain::{
    MAX_USERNAME_CHARS, requested_username, username_key, username_skeleton,
};

/// Bidi embeddings, overrides, isolates and marks, and the zero-width space.
const NEVER_KEPT: [char; 13] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
    '\u{2068}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{200B}',
];

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let Ok(name) = requested_username(&raw) else {
        return;
    };
    let length = name.chars().count();
    assert!((1..=MAX_USERNAME_CHARS).contains(&length), "{name:?}");
    assert!(
        !name.chars().any(|c| NEVER_KEPT.contains(&c) || c.is_control()),
        "{name:?} keeps a hidden character"
    );
    assert_eq!(requested_username(&name).ok().as_deref(), Some(name.as_str()));
    let key = username_key(&name);
    assert_eq!(username_key(&key), key, "folding {name:?} twice changes it");
    assert_eq!(username_skeleton(&name), username_skeleton(&name));
});
