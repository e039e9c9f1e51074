//! The object store (to be written).
