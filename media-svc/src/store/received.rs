//! The bytes of a body that must be exactly as long as its client declared: counted and hashed
//! as they arrive, refused as soon as one byte too many does.

use sha2::{Digest, Sha256};

use super::Stored;

/// What has arrived so far of a body of `declared` bytes.
pub(super) struct Received {
    declared: u64,
    count: u64,
    hasher: Sha256,
}

/// A chunk would carry the body past its declared length (it is neither counted nor hashed).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Overflow;

/// The body ended before its declared length.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Short {
    pub received: u64,
}

impl Received {
    pub fn new(declared: u64) -> Self {
        Self {
            declared,
            count: 0,
            hasher: Sha256::new(),
        }
    }

    /// Counts and hashes `chunk`, unless it brings more than was declared.
    pub fn take(&mut self, chunk: &[u8]) -> Result<(), Overflow> {
        let count = u64::try_from(chunk.len())
            .ok()
            .and_then(|len| self.count.checked_add(len))
            .filter(|&count| count <= self.declared)
            .ok_or(Overflow)?;
        self.count = count;
        self.hasher.update(chunk);
        Ok(())
    }

    /// The body ended: what it was, if it was all there.
    pub fn finish(self) -> Result<Stored, Short> {
        if self.count < self.declared {
            return Err(Short {
                received: self.count,
            });
        }
        Ok(Stored {
            sha256: self.hasher.finalize().into(),
            size: self.count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_declared_bytes_give_their_sha256_and_size() {
        let mut received = Received::new(5);
        assert_eq!(received.take(b"he"), Ok(()));
        assert_eq!(received.take(b""), Ok(()));
        assert_eq!(received.take(b"llo"), Ok(()));
        let stored = received.finish().map_err(|short| short.received);
        let expected: [u8; 32] = Sha256::digest(b"hello").into();
        assert_eq!(
            stored.map(|stored| (stored.sha256, stored.size)),
            Ok((expected, 5))
        );
    }

    #[test]
    fn a_chunk_past_the_declared_length_overflows_and_is_not_counted() {
        let mut received = Received::new(4);
        assert_eq!(received.take(b"abc"), Ok(()));
        assert_eq!(received.take(b"de"), Err(Overflow));
        // What did fit still counts: one more byte completes the body.
        assert_eq!(received.take(b"d"), Ok(()));
        assert!(received.finish().is_ok());
    }

    #[test]
    fn a_body_that_ends_early_is_short_by_what_arrived() {
        let mut received = Received::new(10);
        assert_eq!(received.take(b"abc"), Ok(()));
        assert_eq!(
            received.finish().map(|stored| stored.size),
            Err(Short { received: 3 })
        );
    }

    #[test]
    fn an_empty_body_may_be_declared() {
        let received = Received::new(0);
        let expected: [u8; 32] = Sha256::digest(b"").into();
        assert_eq!(received.finish().map(|stored| stored.sha256), Ok(expected));
    }

    #[test]
    fn nothing_fits_in_an_empty_body() {
        let mut received = Received::new(0);
        assert_eq!(received.take(b"x"), Err(Overflow));
    }
}
