//! `/friends`: every client event's payload through what the edge does with it before
//! friends-svc sees it (parse, validate, build the gRPC request).

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use parley_edge::fuzzing::friends;

fuzz_target!(|data: &[u8]| {
    let Some((event, raw)) = common::event(data, &friends::EVENTS) else {
        return;
    };
    let me = common::me();
    common::check(event, friends::decode(event, raw, &me), &me);
});
