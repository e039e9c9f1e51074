//! Pages of the friends lists (`list-friends`, `list-friend-requests`, `list-blocked`):
//! their sizes and their cursors (docs/API.md, `/friends`).
//!
//! A cursor names the last item a page held, so the next page starts after it whatever
//! changed meanwhile: an item removed is never the reason another is skipped. Friends and
//! blocked users go by name, so their cursor is the last user's id (whose name is then read);
//! requests go by time, and the request may be gone by the next call, so their cursor holds
//! its time and id. Cursors are opaque to clients.

use chrono::{DateTime, Utc};

use super::{RequestId, UserId};
use crate::error::Error;

/// A page's size without `limit`, and the largest a client may ask for.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
pub const MAX_LIST_LIMIT: u32 = 500;
/// Longer than any cursor this module writes (two positions of 54 characters).
const MAX_CURSOR_CHARS: usize = 128;

/// How many items a page holds.
pub fn page_limit(limit: Option<u32>) -> Result<u32, Error> {
    let limit = limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be 1–{MAX_LIST_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// Splits rows read with one more than `limit` into the page and whether more follow.
pub fn split_page<T>(mut rows: Vec<T>, limit: u32) -> (Vec<T>, bool) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    (rows, more)
}

fn bad_cursor() -> Error {
    Error::invalid(
        "cursor",
        "not a cursor of this list: pass the nextCursor it gave",
    )
}

fn bounded(cursor: &str) -> Result<&str, Error> {
    match cursor.len() <= MAX_CURSOR_CHARS {
        true => Ok(cursor),
        false => Err(bad_cursor()),
    }
}

/// The cursor of a list by name: the last user of the previous page.
pub fn parse_user_cursor(cursor: Option<&str>) -> Result<Option<UserId>, Error> {
    cursor
        .map(|cursor| {
            uuid::Uuid::try_parse(bounded(cursor)?)
                .map(UserId)
                .map_err(|_| bad_cursor())
        })
        .transpose()
}

/// Where one of the two lists of `list-friend-requests` goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestsFrom {
    /// From the newest request.
    Start,
    /// After this request (older ones follow).
    After(DateTime<Utc>, RequestId),
    /// This list was done on an earlier page: it stays empty.
    Done,
}

/// The cursor of `list-friend-requests`: one position in each of its lists, which page
/// together (a page holds up to `limit` of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestsCursor {
    pub incoming: RequestsFrom,
    pub outgoing: RequestsFrom,
}

impl RequestsCursor {
    pub const START: Self = Self {
        incoming: RequestsFrom::Start,
        outgoing: RequestsFrom::Start,
    };

    pub fn parse(cursor: Option<&str>) -> Result<Self, Error> {
        let Some(cursor) = cursor else {
            return Ok(Self::START);
        };
        let (incoming, outgoing) = bounded(cursor)?.split_once('.').ok_or_else(bad_cursor)?;
        Ok(Self {
            incoming: side(incoming)?,
            outgoing: side(outgoing)?,
        })
    }

    /// The cursor for the next page, or `None` when both lists are done.
    pub fn token(&self) -> Option<String> {
        let side = |from: &RequestsFrom| match from {
            RequestsFrom::After(at, id) => Some(format!("{}_{id}", at.timestamp_micros())),
            RequestsFrom::Done => Some("end".to_owned()),
            // A cursor is written after a page, which leaves each list after an item or done.
            RequestsFrom::Start => None,
        };
        if self.incoming == RequestsFrom::Done && self.outgoing == RequestsFrom::Done {
            return None;
        }
        Some(format!(
            "{}.{}",
            side(&self.incoming)?,
            side(&self.outgoing)?
        ))
    }
}

fn side(text: &str) -> Result<RequestsFrom, Error> {
    if text == "end" {
        return Ok(RequestsFrom::Done);
    }
    let (micros, id) = text.split_once('_').ok_or_else(bad_cursor)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(bad_cursor)?;
    let id = uuid::Uuid::try_parse(id).map_err(|_| bad_cursor())?;
    Ok(RequestsFrom::After(at, RequestId::from(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_hold_100_by_default_and_500_at_most() {
        assert_eq!(page_limit(None).unwrap(), 100);
        assert_eq!(page_limit(Some(500)).unwrap(), 500);
        assert!(page_limit(Some(501)).is_err());
        assert!(page_limit(Some(0)).is_err());
    }

    #[test]
    fn a_page_read_with_one_row_more_knows_whether_more_follow() {
        assert_eq!(split_page(vec![1, 2, 3, 4], 3), (vec![1, 2, 3], true));
        assert_eq!(split_page(vec![1, 2, 3], 3), (vec![1, 2, 3], false));
    }

    #[test]
    fn a_requests_cursor_reads_back_as_written() {
        let id = RequestId::from(uuid::Uuid::new_v4());
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let cursor = RequestsCursor {
            incoming: RequestsFrom::After(at, id),
            outgoing: RequestsFrom::Done,
        };
        let token = cursor.token().unwrap();
        assert_eq!(RequestsCursor::parse(Some(&token)).unwrap(), cursor);
        let done = RequestsCursor {
            incoming: RequestsFrom::Done,
            outgoing: RequestsFrom::Done,
        };
        assert_eq!(done.token(), None);
    }

    #[test]
    fn a_forged_cursor_is_refused() {
        for forged in [
            "",
            "x",
            "end",
            "end.x",
            "1_x.end",
            "99999999999999999999_0.end",
        ] {
            assert!(RequestsCursor::parse(Some(forged)).is_err(), "{forged}");
        }
        assert!(parse_user_cursor(Some("not-a-uuid")).is_err());
        assert!(parse_user_cursor(Some(&"a".repeat(200))).is_err());
        assert_eq!(parse_user_cursor(None).unwrap(), None);
    }
}
