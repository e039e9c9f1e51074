//! Times on the wire: protobuf `Timestamp` between processes.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// A UTC time as a protobuf `Timestamp`.
pub fn to_timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        // Always below 10^9, so it fits.
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf `Timestamp` as a UTC time; `None` when it is out of range.
pub fn from_timestamp(timestamp: &Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(timestamp.nanos).ok()?;
    DateTime::from_timestamp(timestamp.seconds, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_survive_the_round_trip() {
        let time = DateTime::from_timestamp(1_764_000_000, 123_000_000).expect("in range");
        assert_eq!(from_timestamp(&to_timestamp(time)), Some(time));
        assert_eq!(
            from_timestamp(&Timestamp {
                seconds: 0,
                nanos: -1
            }),
            None
        );
    }
}
