//! `/status`: every client event's payload through what the edge does with it before
//! presence-svc sees it (parse, validate, build the gRPC request).

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use parley_edge::fuzzing::status;

fuzz_target!(|data: &[u8]| {
    let Some((event, raw)) = common::event(data, &status::EVENTS) else {
        return;
    };
    let me = common::me();
    let decoded = status::decode(event, raw, &me, "fuzz-session", "fuzz-edge");
    common::check(event, decoded, &me);
});
