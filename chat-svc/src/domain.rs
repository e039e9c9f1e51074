//! The rules of chat-svc that need no database: ids, roles, message types, names, limits.

pub use parley_common::ids::UserId;

use crate::error::Error;

parley_common::uuid_id!(
    /// A room: a group, or the DM room of a pair of users.
    RoomId
);

parley_common::uuid_id!(
    /// A stored message.
    MessageId
);

parley_common::uuid_id!(
    /// A file a message carries: the id of the media-svc upload it came from.
    AttachmentId
);

/// Longest room name.
pub const MAX_ROOM_NAME_CHARS: usize = 100;
/// Most members a room may have.
pub const MAX_MEMBERS: usize = 1000;
/// Most members one `create-room` or `add-members` names: each of them gets the room's
/// `room-created` or `user-joined` at once, without being asked, so one call must not
/// reach a thousand people (bigger rooms grow by several calls, within the per-minute limit).
pub const MAX_MEMBERS_PER_CALL: usize = 100;
/// Default and largest page of `list-rooms`.
pub const DEFAULT_ROOMS_PAGE: u32 = 50;
pub const MAX_ROOMS_PAGE: u32 = 100;

/// What a member may do in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Everything an admin may, and removing admins; one per group room.
    Owner,
    /// Adding and removing members.
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "OWNER",
            Role::Admin => "ADMIN",
            Role::Member => "MEMBER",
        }
    }

    pub fn parse(text: &str) -> Role {
        match text {
            "OWNER" => Role::Owner,
            "ADMIN" => Role::Admin,
            _ => Role::Member,
        }
    }

    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether a member with this role may remove one with `other`.
    pub fn may_remove(self, other: Role) -> bool {
        match self {
            Role::Owner => other != Role::Owner,
            Role::Admin => other == Role::Member,
            Role::Member => false,
        }
    }
}

/// What a message holds, as stored in `chat.messages.message_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Text,
    Image,
    File,
    Call,
    /// Written by the server only; clients may not send it.
    System,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Text => "TEXT",
            MessageType::Image => "IMAGE",
            MessageType::File => "FILE",
            MessageType::Call => "CALL",
            MessageType::System => "SYSTEM",
        }
    }

    /// Reads a stored type; anything unknown shows as text.
    pub fn parse(text: &str) -> MessageType {
        match text {
            "IMAGE" => MessageType::Image,
            "FILE" => MessageType::File,
            "CALL" => MessageType::Call,
            "SYSTEM" => MessageType::System,
            _ => MessageType::Text,
        }
    }
}

/// How rows decode the column (see [`MessageType::parse`]).
impl From<String> for MessageType {
    fn from(text: String) -> Self {
        MessageType::parse(&text)
    }
}

/// What an attachment is, as media-svc judged it from its bytes (stored in
/// `chat.message_attachments.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    /// A JPEG, PNG, GIF or WebP that decoded, with variants.
    Image,
    /// Anything else, served as a download only.
    File,
}

impl AttachmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Image => "IMAGE",
            AttachmentKind::File => "FILE",
        }
    }

    /// Reads a stored kind; anything unknown is a file (never shown inline).
    pub fn parse(text: &str) -> AttachmentKind {
        match text {
            "IMAGE" => AttachmentKind::Image,
            _ => AttachmentKind::File,
        }
    }
}

/// How rows decode the column (see [`AttachmentKind::parse`]).
impl From<String> for AttachmentKind {
    fn from(text: String) -> Self {
        AttachmentKind::parse(&text)
    }
}

/// The attachments one `send-message` names (`attachmentIds`): 1–`max` UUIDs, each once.
pub fn attachment_ids(raw: &[String], max: usize) -> Result<Vec<AttachmentId>, Error> {
    // Counted before parsing, so that a huge list is refused before any work on it.
    if raw.is_empty() || raw.len() > max {
        return Err(Error::invalid(
            "attachmentIds",
            format!("must name 1–{max} attachments"),
        ));
    }
    let ids = raw
        .iter()
        .map(|id| AttachmentId::parse("attachmentIds", id))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    if !ids.iter().all(|id| seen.insert(*id)) {
        return Err(Error::invalid("attachmentIds", "names an attachment twice"));
    }
    Ok(ids)
}

/// A room name: trimmed, 1–100 characters; `None` stays `None`.
pub fn room_name(raw: Option<&str>) -> Result<Option<String>, Error> {
    let Some(raw) = raw else { return Ok(None) };
    let name = raw.trim();
    let length = name.chars().count();
    if length == 0 || length > MAX_ROOM_NAME_CHARS {
        return Err(Error::invalid(
            "name",
            format!("must be 1–{MAX_ROOM_NAME_CHARS} characters"),
        ));
    }
    if name.contains('\0') {
        return Err(Error::invalid("name", "must not contain NUL (U+0000)"));
    }
    // `trim` leaves zero-width and other invisible characters: a name made of them shows
    // as nothing, like an empty one.
    if name.chars().all(is_invisible) {
        return Err(Error::invalid(
            "name",
            "must have a visible character, not only spaces or invisible ones",
        ));
    }
    Ok(Some(name.to_owned()))
}

/// Whether `c` shows nothing on its own: white space, control characters, and the format
/// and filler characters (zero-width space and joiners, bidi marks, the BOM, Hangul
/// fillers, variation selectors, tags) that a message made only of them would render as
/// nothing.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}')
}

/// The users one `create-room` (`field` `memberIds`) or `add-members` (`userIds`) names:
/// the ids given, without duplicates and without the caller, at most
/// [`MAX_MEMBERS_PER_CALL`].
pub fn invited(creator: UserId, field: &str, member_ids: &[String]) -> Result<Vec<UserId>, Error> {
    // Counted before parsing, so that a huge list is refused before any work on it.
    if member_ids.len() > MAX_MEMBERS_PER_CALL + 1 {
        return Err(too_many(field));
    }
    let mut ids = member_ids
        .iter()
        .map(|id| UserId::parse(field, id))
        .collect::<Result<Vec<_>, _>>()?;
    ids.retain(|id| *id != creator);
    ids.sort();
    ids.dedup();
    if ids.len() > MAX_MEMBERS_PER_CALL {
        return Err(too_many(field));
    }
    Ok(ids)
}

fn too_many(field: &str) -> Error {
    Error::invalid(
        field,
        format!(
            "at most {MAX_MEMBERS_PER_CALL} users per call (a room has at most {MAX_MEMBERS} members)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn owners_remove_anyone_but_owners_and_admins_remove_members() {
        assert!(Role::Owner.may_remove(Role::Admin));
        assert!(!Role::Owner.may_remove(Role::Owner));
        assert!(Role::Admin.may_remove(Role::Member));
        assert!(!Role::Admin.may_remove(Role::Admin));
        assert!(!Role::Member.may_remove(Role::Member));
    }

    #[test]
    fn invited_members_lose_duplicates_and_the_creator() {
        let (me, you) = (UserId(Uuid::new_v4()), UserId(Uuid::new_v4()));
        let ids = [you.to_string(), me.to_string(), you.to_string()];
        assert_eq!(invited(me, "memberIds", &ids).unwrap(), vec![you]);
        assert!(invited(me, "memberIds", &["nope".to_owned()]).is_err());
    }

    #[test]
    fn one_call_invites_at_most_a_hundred_users() {
        let me = UserId(Uuid::new_v4());
        let ids =
            |n: usize| -> Vec<String> { (0..n).map(|_| Uuid::new_v4().to_string()).collect() };
        assert_eq!(invited(me, "userIds", &ids(100)).unwrap().len(), 100);
        let mut with_me = ids(100);
        with_me.push(me.to_string());
        assert_eq!(
            invited(me, "userIds", &with_me).unwrap().len(),
            100,
            "the caller is not counted"
        );
        assert!(invited(me, "userIds", &ids(101)).is_err());
    }

    #[test]
    fn room_names_are_trimmed_and_bounded() {
        assert_eq!(room_name(Some(" team ")).unwrap().as_deref(), Some("team"));
        assert!(room_name(Some("  ")).is_err());
        assert!(room_name(Some(&"x".repeat(101))).is_err());
        assert_eq!(room_name(None).unwrap(), None);
        assert!(room_name(Some("a\0b")).is_err());
        assert!(
            room_name(Some("\u{200B}\u{200D}\u{FEFF}")).is_err(),
            "only invisible"
        );
    }

    #[test]
    fn a_stored_message_type_reads_back_as_itself_and_an_unknown_one_as_text() {
        use MessageType::*;
        for kind in [Text, Image, File, Call, System] {
            assert_eq!(MessageType::parse(kind.as_str()), kind);
        }
        assert_eq!(MessageType::parse("VOICE"), Text);
    }

    #[test]
    fn a_message_names_one_to_max_attachments_each_once() {
        let ids =
            |n: usize| -> Vec<String> { (0..n).map(|_| Uuid::new_v4().to_string()).collect() };
        assert_eq!(attachment_ids(&ids(3), 3).unwrap().len(), 3);
        assert!(attachment_ids(&[], 3).is_err());
        assert!(attachment_ids(&ids(4), 3).is_err());
        let once = Uuid::new_v4().to_string();
        let twice = [once.clone(), once];
        assert!(
            attachment_ids(&twice, 3)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(attachment_ids(&["nope".to_owned()], 3).is_err());
    }

    #[test]
    fn a_stored_attachment_kind_reads_back_as_itself_and_an_unknown_one_as_a_file() {
        for kind in [AttachmentKind::Image, AttachmentKind::File] {
            assert_eq!(AttachmentKind::parse(kind.as_str()), kind);
        }
        assert_eq!(AttachmentKind::parse("VIDEO"), AttachmentKind::File);
    }

    #[test]
    fn only_spaces_and_zero_width_characters_are_invisible() {
        let nothing = " \t\u{200B}\u{200D}\u{FEFF}\u{2060}\u{3164}";
        assert!(nothing.chars().all(is_invisible));
        assert!(!"\u{200B}a".chars().all(is_invisible));
        // An emoji with its variation selector is visible.
        assert!(!"\u{2764}\u{FE0F}".chars().all(is_invisible));
    }
}
