//! Where an object lives in the store. Keys are built from ids only, never from a client's
//! file name, so no name can reach outside the store's folder or bucket prefix, or collide.

use std::fmt;

use object_store::path::Path;
use parley_common::media_url::Variant;
use uuid::Uuid;

/// The location of one object in the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key(Path);

impl Key {
    /// The raw bytes of an upload as its client sent them (`s/{upload id}`). Staging is never
    /// served: what a download serves is an attachment's file.
    pub fn staging(upload_id: Uuid) -> Key {
        Key(Path::from_iter(["s".to_owned(), upload_id.to_string()]))
    }

    /// One file of an attachment (`a/{attachment id}/{o|t|p}`).
    pub fn attachment(id: Uuid, variant: Variant) -> Key {
        Key(Path::from_iter([
            "a".to_owned(),
            id.to_string(),
            variant.as_str().to_owned(),
        ]))
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_keys_are_under_s() {
        let id = Uuid::from_u128(1);
        assert_eq!(
            Key::staging(id).to_string(),
            "s/00000000-0000-0000-0000-000000000001"
        );
    }

    #[test]
    fn attachment_keys_name_their_variant() {
        let id = Uuid::from_u128(2);
        let keys: Vec<String> = Variant::ALL
            .into_iter()
            .map(|variant| Key::attachment(id, variant).to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "a/00000000-0000-0000-0000-000000000002/o",
                "a/00000000-0000-0000-0000-000000000002/t",
                "a/00000000-0000-0000-0000-000000000002/p",
            ]
        );
    }
}
