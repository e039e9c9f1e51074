//! Whose address a request comes from. Behind a proxy the TCP peer is the proxy, which would
//! make every per-IP limit one global limit; so when (and only when) the peer is a trusted
//! proxy (`PARLEY_TRUSTED_PROXIES`), the client is read from `Forwarded` (RFC 7239) or, without
//! it, `X-Forwarded-For`: the nearest address in the chain that is not itself a trusted
//! proxy. A client cannot pick its own address by sending those headers: from an untrusted
//! peer they are ignored.

use std::{
    net::{IpAddr, Ipv4Addr},
    str::FromStr,
    sync::Arc,
};

use axum::extract::ConnectInfo;
use http::{HeaderMap, Request, header::FORWARDED};
use tower_governor::{GovernorError, key_extractor::KeyExtractor};

use crate::connections::Peer;

/// An address or a network, `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or network"))?;
        let longest = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= longest)
                .ok_or_else(|| format!("{text:?} has no valid prefix length"))?,
            None => longest,
        };
        Ok(Self {
            address: address.to_canonical(),
            prefix,
        })
    }
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[Network]>);

impl TrustedProxies {
    pub fn new(networks: &[Network]) -> Self {
        Self(networks.into())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        // Nearest first: the peer, then what each proxy appended, right to left.
        let mut client = peer;
        for hop in forwarded_chain(headers).into_iter().rev() {
            let Some(hop) = hop else {
                // An entry that is no address (`unknown`, an obfuscated name, garbage):
                // nothing beyond it can be believed.
                return client;
            };
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// The addresses of `Forwarded`'s `for=` parameters, or else of `X-Forwarded-For`, in
/// header order (the client first); `None` for an entry that is not an address.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let forwarded = values(FORWARDED);
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .map(|element| {
                element
                    .split(';')
                    .find_map(|pair| {
                        let (key, value) = pair.trim().split_once('=')?;
                        key.eq_ignore_ascii_case("for").then_some(value)
                    })
                    .and_then(node_address)
            })
            .collect();
    }
    values(http::HeaderName::from_static("x-forwarded-for"))
        .iter()
        .map(|entry| node_address(entry))
        .collect()
}

/// The address of a node: `192.0.2.7`, `"192.0.2.7:4711"`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse::<IpAddr>().ok();
    }
    // Only an IPv4 address takes a port without brackets: in `2001:db8::1:80` the port
    // cannot be told from the address (RFC 7239 brackets IPv6 with a port).
    let (address, port) = node.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    address.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// tower_governor's key: the client's address as [`TrustedProxies`] sees it.
#[derive(Debug, Clone)]
pub struct ClientIpKey(pub TrustedProxies);

impl KeyExtractor for ClientIpKey {
    type Key = IpAddr;

    fn extract<T>(&self, request: &Request<T>) -> Result<Self::Key, GovernorError> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<Peer>>()
            .ok_or(GovernorError::UnableToExtractKey)?;
        Ok(self.0.client_ip(peer.0.addr.ip(), request.headers()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        let networks: Vec<Network> = list
            .iter()
            .map(|network| network.parse().expect("a network"))
            .collect();
        TrustedProxies::new(&networks)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().expect("a header value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_another_address() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            trusted.client_ip(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        // The client wrote its own first entry; the proxies appended what they saw.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 192.0.2.1")]);
        assert_eq!(
            trusted.client_ip(ip("10.1.2.3"), &chain),
            ip("198.51.100.7")
        );
        let forwarded = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.9",
        )]);
        assert_eq!(
            trusted.client_ip(ip("10.1.2.3"), &forwarded),
            ip("2001:db8::1")
        );
        assert_eq!(
            trusted.client_ip(ip("10.1.2.3"), &headers(&[("forwarded", "for=unknown")])),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn a_node_is_an_address_with_or_without_a_port_and_nothing_else() {
        assert_eq!(node_address("192.0.2.7:4711"), Some(ip("192.0.2.7")));
        assert_eq!(
            node_address("\"[2001:db8::1]:4711\""),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(node_address("2001:db8::1"), Some(ip("2001:db8::1")));
        // Found by the fuzzer: junk after a colon was taken for a port of an IPv6 address.
        assert_eq!(node_address("00:00::b:0:0d0\"bf"), None);
        assert_eq!(node_address("192.0.2.7:"), None);
        assert_eq!(node_address("unknown"), None);
    }

    #[test]
    fn networks_parse_and_match_by_prefix() {
        let network: Network = "10.0.0.0/8".parse().expect("a network");
        assert!(network.contains(ip("10.255.0.1")));
        assert!(!network.contains(ip("11.0.0.1")));
        assert!(network.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        assert!("2001:db8::/32".parse::<Network>().is_ok());
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("example.com".parse::<Network>().is_err());
        assert!(
            "0.0.0.0/0"
                .parse::<Network>()
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
    }
}
