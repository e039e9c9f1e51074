//! Parley's gRPC contracts, generated from the `.proto` files beside this crate.
//!
//! Each service has its own versioned package (`parley.<service>.v1`); a breaking change makes
//! a `v2` next to it rather than editing `v1` in place.

/// `parley.chat.v1`: rooms, members, messages, read state, typing.
pub mod chat {
    pub mod v1 {
        #![allow(
            clippy::doc_lazy_continuation,
            reason = "generated from .proto comments"
        )]
        tonic::include_proto!("parley.chat.v1");

        /// The encoded descriptor set of this package, for gRPC server reflection.
        pub const FILE_DESCRIPTOR_SET: &[u8] =
            tonic::include_file_descriptor_set!("chat_descriptor");
    }
}

/// `parley.presence.v1`: sessions, statuses, heartbeats, last seen.
pub mod presence {
    pub mod v1 {
        #![allow(
            clippy::doc_lazy_continuation,
            reason = "generated from .proto comments"
        )]
        tonic::include_proto!("parley.presence.v1");

        /// The encoded descriptor set of this package, for gRPC server reflection.
        pub const FILE_DESCRIPTOR_SET: &[u8] =
            tonic::include_file_descriptor_set!("presence_descriptor");
    }
}

/// `parley.friends.v1`: users, friend requests, friendships, blocks.
pub mod friends {
    pub mod v1 {
        #![allow(
            clippy::doc_lazy_continuation,
            reason = "generated from .proto comments"
        )]
        tonic::include_proto!("parley.friends.v1");

        /// The encoded descriptor set of this package, for gRPC server reflection.
        pub const FILE_DESCRIPTOR_SET: &[u8] =
            tonic::include_file_descriptor_set!("friends_descriptor");
    }
}

/// `parley.media.v1`: uploads, attachments, quotas.
pub mod media {
    pub mod v1 {
        #![allow(
            clippy::doc_lazy_continuation,
            reason = "generated from .proto comments"
        )]
        tonic::include_proto!("parley.media.v1");

        /// The encoded descriptor set of this package, for gRPC server reflection.
        pub const FILE_DESCRIPTOR_SET: &[u8] =
            tonic::include_file_descriptor_set!("media_descriptor");
    }
}

/// `parley.calls.v1`: one-to-one voice and video calls, their signaling and deadlines.
pub mod calls {
    pub mod v1 {
        #![allow(
            clippy::doc_lazy_continuation,
            reason = "generated from .proto comments"
        )]
        tonic::include_proto!("parley.calls.v1");

        /// The encoded descriptor set of this package, for gRPC server reflection.
        pub const FILE_DESCRIPTOR_SET: &[u8] =
            tonic::include_file_descriptor_set!("calls_descriptor");
    }
}
