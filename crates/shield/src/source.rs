//! Who is asking: the source address (the socket's, or the client's as a
//! trusted proxy reports it) and the prefix it belongs to.

use std::net::IpAddr;

/// An IPv4 /24 or an IPv6 /64: one customer network, usually. A flood from
/// many addresses of one network is limited as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prefix {
    V4([u8; 3]),
    V6([u8; 8]),
}

pub fn prefix_of(ip: IpAddr) -> Prefix {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Prefix::V4([o[0], o[1], o[2]])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => prefix_of(IpAddr::V4(v4)),
            None => {
                let mut p = [0u8; 8];
                p.copy_from_slice(&v6.octets()[..8]);
                Prefix::V6(p)
            }
        },
    }
}

/// The client's address: the socket peer, unless the peer is one of
/// `trusted` proxies, in which case the right-most address of
/// X-Forwarded-For that is not itself a trusted proxy. An untrusted peer's
/// header is ignored: anyone can write one.
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else { return peer };
    header
        .split(',')
        .rev()
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// Every X-Forwarded-For line of a request, in order, as one list: a proxy
/// that appends a line of its own (rather than extending the header) must
/// not let a line the client wrote decide.
pub fn forwarded_for(headers: &http::HeaderMap) -> Option<String> {
    let lines: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    (!lines.is_empty()).then(|| lines.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_forwarded_for_line_counts_and_the_proxys_own_comes_last() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(forwarded_for(&headers), None);
        headers.append("x-forwarded-for", http::HeaderValue::from_static("1.2.3.4"));
        headers.append("x-forwarded-for", http::HeaderValue::from_static("203.0.113.9"));
        let joined = forwarded_for(&headers);
        assert_eq!(joined.as_deref(), Some("1.2.3.4,203.0.113.9"));
        let proxy = ip("10.0.0.5");
        assert_eq!(client_address(proxy, joined.as_deref(), &[proxy]), ip("203.0.113.9"));
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn addresses_group_into_ipv4_24_and_ipv6_64_prefixes() {
        assert_eq!(prefix_of(ip("192.0.2.1")), prefix_of(ip("192.0.2.254")));
        assert_ne!(prefix_of(ip("192.0.2.1")), prefix_of(ip("192.0.3.1")));
        assert_eq!(prefix_of(ip("2001:db8:1:2::1")), prefix_of(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(prefix_of(ip("2001:db8:1:2::1")), prefix_of(ip("2001:db8:1:3::1")));
        assert_eq!(prefix_of(ip("::ffff:192.0.2.7")), prefix_of(ip("192.0.2.8")), "mapped IPv4 is IPv4");
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy = ip("10.0.0.5");
        let trusted = [proxy];
        assert_eq!(client_address(ip("198.51.100.7"), Some("203.0.113.9"), &trusted), ip("198.51.100.7"));
        assert_eq!(client_address(proxy, Some("203.0.113.9"), &trusted), ip("203.0.113.9"));
        // A client cannot hide behind an address it writes itself: the
        // right-most untrusted entry is the one the proxy saw.
        assert_eq!(client_address(proxy, Some("1.2.3.4, 203.0.113.9"), &trusted), ip("203.0.113.9"));
        assert_eq!(client_address(proxy, Some("garbage"), &trusted), proxy);
        assert_eq!(client_address(proxy, None, &trusted), proxy);
    }
}
