//! `/chat`: every client event's payload through what the edge does with it before chat-svc
//! sees it (parse, validate, build the gRPC request).

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use parley_edge::fuzzing::chat;

fuzz_target!(|data: &[u8]| {
    let Some((event, raw)) = common::event(data, &chat::EVENTS) else {
        return;
    };
    let me = common::me();
    common::check(event, chat::decode(event, raw, &me, "fuzz-socket"), &me);
});
