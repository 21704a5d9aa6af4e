//! The client address every per-IP limit is keyed by (the REST per-IP layer, the budget of
//! unknown game keys and made-up `/ws` tokens, the Pusher per-IP socket cap), from one
//! function, [`client_ip`]: when the TCP peer is one of the `--trusted-proxies`,
//! `X-Forwarded-For` is walked from the right, skipping trusted addresses, and the first
//! untrusted one is the client; otherwise the peer is. A header from an untrusted peer is never
//! read. [`ClientIp`] is the extractor handlers use.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::ApiError;
use crate::app::AppState;

/// The client's address, as [`client_ip`] finds it for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip())
            .ok_or_else(|| {
                ApiError::internal("the server was started without peer addresses (ConnectInfo)")
            })?;
        Ok(ClientIp(client_ip(
            &app.config().api_limits.trusted_proxies,
            peer,
            &parts.headers,
        )))
    }
}

/// The client of a request from `peer` with `headers`: `peer` unless it is inside a `trusted`
/// network; then the rightmost `X-Forwarded-For` address not inside one (the nearest hop no
/// trusted proxy vouches beyond). An entry that is not an address stops the walk at the last
/// trusted hop; a header of trusted addresses only gives the leftmost of them.
pub fn client_ip(trusted: &[IpNet], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .collect();
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return nearest;
        };
        if !is_trusted(&ip) {
            return ip;
        }
        nearest = ip;
    }
    nearest
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `2001:db8::1`, or with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:5678`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// A `--trusted-proxies` entry: a network (`10.0.0.0/8`, `fd00::/8`) or one address.
pub fn parse_network(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|net| net.trunc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|entry| parse_network(entry).expect("network"))
            .collect()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("header value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn an_untrusted_peers_header_is_ignored() {
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            client_ip(&[], ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(&trusted, ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn a_trusted_peers_header_is_walked_from_the_right_skipping_trusted_hops() {
        let trusted = nets(&["10.0.0.0/8", "192.168.1.7"]);
        // A client-supplied (forged) leftmost entry is not believed past an untrusted hop.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "192.168.1.7, 10.1.2.3"]);
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.1"), &headers),
            ip("203.0.113.9")
        );
        // Only trusted hops: the farthest of them.
        let headers = forwarded(&["10.9.9.9, 10.1.2.3"]);
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.1"), &headers),
            ip("10.9.9.9")
        );
        // No header: the proxy itself.
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // Garbage stops the walk at the last trusted hop; ports and IPv6 are read.
        let headers = forwarded(&["203.0.113.9, unknown, 10.1.2.3"]);
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.1"), &headers),
            ip("10.1.2.3")
        );
        let headers = forwarded(&["[2001:db8::1]:4711"]);
        assert_eq!(
            client_ip(&trusted, ip("10.0.0.1"), &headers),
            ip("2001:db8::1")
        );
        // An IPv4 peer seen on an IPv6 socket is still the trusted IPv4 proxy.
        let headers = forwarded(&["203.0.113.9:80"]);
        assert_eq!(
            client_ip(&trusted, ip("::ffff:10.0.0.1"), &headers),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn networks_parse_as_cidrs_or_single_addresses() {
        assert_eq!(parse_network("10.1.2.3/8"), "10.0.0.0/8".parse().ok());
        assert_eq!(parse_network(" ::1 "), "::1/128".parse().ok());
        assert_eq!(parse_network("10.0.0.0/33"), None);
        assert_eq!(parse_network("proxy.local"), None);
    }
}
