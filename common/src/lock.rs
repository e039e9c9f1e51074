//! Locking in-memory state that stays usable after a panic.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, poisoned or not.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Callers hold the lock for single inserts, updates or removals only (each says so), so
    // a poisoned value is still consistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
