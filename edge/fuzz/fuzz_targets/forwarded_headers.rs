//! The client address behind proxies: `TrustedProxies::client_ip` reading `Forwarded` and
//! `X-Forwarded-For` (client_ip.rs), which every per-IP limit keys on.
//!
//! First input byte: bit 0 picks the peer (a trusted proxy, 10.0.0.1, or an untrusted one,
//! 203.0.113.9), bit 1 the header (`Forwarded` or `X-Forwarded-For`); the rest, split at
//! newlines, are that header's values (those that are valid header values).
//!
//! Besides not panicking: from an untrusted peer the client is the peer, and behind a trusted
//! one it is the peer or an address that the headers name.

#![no_main]

use std::{net::IpAddr, sync::LazyLock};

use libfuzzer_sys::fuzz_target;
use parley_edge::client_ip::{Network, TrustedProxies};

static PROXIES: LazyLock<TrustedProxies> = LazyLock::new(|| {
    let networks: Vec<Network> = ["10.0.0.0/8", "fd00::/8"]
        .iter()
        .map(|network| network.parse().expect("a network"))
        .collect();
    TrustedProxies::new(&networks)
});

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let trusted_peer: IpAddr = [10, 0, 0, 1].into();
    let untrusted_peer: IpAddr = [203, 0, 113, 9].into();
    let peer = if mode & 1 == 0 { trusted_peer } else { untrusted_peer };
    let name = if mode & 2 == 0 { "forwarded" } else { "x-forwarded-for" };
    let mut headers = http::HeaderMap::new();
    for value in rest.split(|byte| *byte == b'\n') {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    let client = PROXIES.client_ip(peer, &headers);
    if peer == untrusted_peer {
        assert_eq!(client, untrusted_peer, "an untrusted peer chose its address");
    } else if client != peer {
        let text = String::from_utf8_lossy(rest);
        assert!(
            addresses_in(&text).contains(&client.to_canonical()),
            "{client} is in none of the headers: {text:?}"
        );
    }
});

/// Every address written in `text`, alone or with a port.
fn addresses_in(text: &str) -> Vec<IpAddr> {
    text.split(|c: char| ",;=\"[] \t\n".contains(c))
        .filter_map(|token| {
            token
                .parse::<IpAddr>()
                .ok()
                .or_else(|| token.rsplit_once(':')?.0.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4))
        })
        .map(|ip| ip.to_canonical())
        .collect()
}
