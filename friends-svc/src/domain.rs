//! The values of friends-svc, its ids included, and the rules that need no database:
//! validated inputs, and (in `username`) naming.

use chrono::{DateTime, Utc};

use crate::error::Error;

pub use parley_common::ids::UserId;

pub mod paging;
mod username;
pub use username::{
    MAX_USERNAME_CHARS, default_username, requested_username, username_fallbacks, username_key,
    username_skeleton, without_invisible_characters,
};

parley_common::uuid_id!(
    /// A friend request, named by friends-svc when it is sent.
    RequestId
);

/// A user as others see them. Like [`Friend`], it decodes straight from the rows `repo`
/// reads.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub avatar: Option<String>,
}

/// A pending request with both users.
#[derive(Debug, Clone)]
pub struct FriendRequest {
    pub id: RequestId,
    pub from: User,
    pub to: User,
    pub created_at: DateTime<Utc>,
}

/// A friend and since when.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Friend {
    #[sqlx(flatten)]
    pub user: User,
    pub since: DateTime<Utc>,
}

/// Default and largest page of `search-users`.
pub const DEFAULT_SEARCH_LIMIT: u32 = 20;
pub const MAX_SEARCH_LIMIT: u32 = 50;
/// Longest `search-users` query.
pub const MAX_QUERY_CHARS: usize = 100;

/// Longest avatar URL kept, in bytes.
pub const MAX_AVATAR_BYTES: usize = 2048;

/// The token's `picture` as the avatar every room and friend list shows, or none: only an
/// `https:` or `http:` URL of at most [`MAX_AVATAR_BYTES`], without white space or control
/// characters (Postgres cannot store NUL), is kept. Anything else (`javascript:`, `data:`,
/// a megabyte of text copied into every `room-created`) is no avatar: the token is still
/// good, its picture is not.
pub fn avatar_url(raw: Option<&str>) -> Option<&str> {
    let url = raw?.trim();
    let scheme_ends = url.find(':')?;
    let scheme = url.get(..scheme_ends)?;
    let web = scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http");
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    (web && clean && url.len() <= MAX_AVATAR_BYTES && url.len() > scheme_ends + 3).then_some(url)
}

/// A validated `search-users` query: the lowercased prefix and the page size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSearch {
    pub prefix: String,
    pub limit: u32,
}

impl UserSearch {
    pub fn parse(query: &str, limit: Option<u32>) -> Result<Self, Error> {
        let prefix = username_key(without_invisible_characters(query).trim());
        let length = prefix.chars().count();
        if length == 0 || length > MAX_QUERY_CHARS {
            return Err(Error::invalid(
                "query",
                format!("must be 1–{MAX_QUERY_CHARS} characters"),
            ));
        }
        let limit = limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
        if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be 1–{MAX_SEARCH_LIMIT}"),
            ));
        }
        Ok(Self { prefix, limit })
    }

    /// The smallest string greater than every string that starts with the prefix, in code
    /// point order, so that `key >= prefix AND key < bound` is an index range scan. `None`
    /// when no such string exists (a prefix made only of U+10FFFF).
    pub fn upper_bound(&self) -> Option<String> {
        let mut chars: Vec<char> = self.prefix.chars().collect();
        while let Some(last) = chars.pop() {
            let next = match last {
                '\u{D7FF}' => Some('\u{E000}'),
                other => char::from_u32(u32::from(other) + 1),
            };
            if let Some(next) = next {
                chars.push(next);
                return Some(chars.into_iter().collect());
            }
        }
        None
    }
}

/// One advisory-lock key per unordered pair of users: every change to a pair's requests,
/// friendship or blocks takes it, so concurrent changes to one pair run one after another.
pub fn pair_lock_key(a: UserId, b: UserId) -> i64 {
    let (low, high) = ordered_pair(a, b);
    let mixed = low.0.as_u128() ^ high.0.as_u128().rotate_left(64);
    // Folding 128 bits into 64: a collision only serializes two unrelated pairs.
    i64::from_ne_bytes(((mixed >> 64) as u64 ^ mixed as u64).to_ne_bytes())
}

/// The two ids of a friendship in the order the table stores them.
pub fn ordered_pair(a: UserId, b: UserId) -> (UserId, UserId) {
    if a < b { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn only_short_web_urls_are_avatars() {
        assert_eq!(
            avatar_url(Some(" https://cdn.test/a.png ")),
            Some("https://cdn.test/a.png")
        );
        assert_eq!(
            avatar_url(Some("HTTP://cdn.test/a.png")),
            Some("HTTP://cdn.test/a.png")
        );
        let long = format!("https://cdn.test/{}", "a".repeat(MAX_AVATAR_BYTES));
        for refused in [
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "https://",
            "https://a b",
            "https://a\0b",
            "//cdn.test/a.png",
            "",
            long.as_str(),
        ] {
            assert_eq!(avatar_url(Some(refused)), None, "{refused}");
        }
        assert_eq!(avatar_url(None), None);
    }

    #[test]
    fn search_limits_default_to_20_and_stop_at_50() {
        assert_eq!(UserSearch::parse("Al", None).unwrap().limit, 20);
        assert_eq!(UserSearch::parse("Al", Some(50)).unwrap().limit, 50);
        assert!(UserSearch::parse("Al", Some(51)).is_err());
        assert!(UserSearch::parse("Al", Some(0)).is_err());
        assert!(UserSearch::parse("  ", None).is_err());
        assert_eq!(UserSearch::parse(" AL ", None).unwrap().prefix, "al");
        assert_eq!(
            UserSearch::parse("ＡＬ\u{200B}I", None).unwrap().prefix,
            "ali"
        );
        assert!(UserSearch::parse("\u{200B}\u{202E}", None).is_err());
    }

    #[test]
    fn the_upper_bound_is_the_next_string_after_every_match() {
        let bound = |prefix: &str| UserSearch::parse(prefix, None).unwrap().upper_bound();
        assert_eq!(bound("al").as_deref(), Some("am"));
        assert_eq!(bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(bound("\u{10FFFF}"), None);
    }

    #[test]
    fn a_pair_has_one_lock_key_whatever_the_order() {
        let (a, b) = (UserId(Uuid::new_v4()), UserId(Uuid::new_v4()));
        assert_eq!(pair_lock_key(a, b), pair_lock_key(b, a));
        assert_eq!(ordered_pair(a, b), ordered_pair(b, a));
    }
}
