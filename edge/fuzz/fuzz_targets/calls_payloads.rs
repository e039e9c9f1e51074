//! `/calls`: every client event's payload through what the edge does with it before
//! calls-svc sees it (parse, validate, build the gRPC request).

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::fuzz_event("/calls", data));
