//! Typed ids: a UUID that says what it names, so that a room id cannot go where a user id is
//! meant. Each service declares its own with [`uuid_id!`]; the user id, which every service
//! handles, is declared here.

use uuid::Uuid;

use crate::error::ServiceError;

/// Declares a typed id: a UUID newtype that reads itself from a request field (with an
/// `INVALID_ARGUMENT` naming the field), prints as the UUID, and binds and decodes in SQL as
/// a `uuid`.
#[macro_export]
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type)]
        #[sqlx(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// Reads the id from the text of request field `field`.
            pub fn parse(field: &str, text: &str) -> Result<Self, $crate::error::ServiceError> {
                $crate::ids::parse_uuid(field, text).map(Self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(formatter)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }
    };
}

/// Reads a UUID from the text of request field `field`.
pub fn parse_uuid(field: &str, text: &str) -> Result<Uuid, ServiceError> {
    Uuid::parse_str(text).map_err(|_| ServiceError::invalid(field, "must be a UUID"))
}

uuid_id!(
    /// A user, as friends-svc records them from their tokens.
    UserId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_that_is_no_uuid_names_its_field() {
        let error = UserId::parse("userId", "bob")
            .err()
            .map(|error| error.to_string());
        assert_eq!(error.as_deref(), Some("userId: must be a UUID"));
        let id = Uuid::from_u128(7);
        assert_eq!(
            UserId::parse("userId", &id.to_string()).ok(),
            Some(UserId(id))
        );
    }
}
