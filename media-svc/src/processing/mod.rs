//! What media-svc does with the bytes of a completed upload (to be written).
