//! The hub under load: `--target URL` parsed, checked against the loopback-only policy, and
//! resolved once. Our machines may only load themselves, so a host that is not 127.0.0.0/8,
//! `::1` or `localhost` is refused unless `--allow-remote` is given, and a name must also
//! resolve to loopback addresses. Entry type: [`Target`]. TLS is not compiled in.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use url::{Host, Url};

/// The default `--target`.
pub const DEFAULT_TARGET: &str = "http://127.0.0.1:8009";

/// A resolved hub address and the WebSocket URL of its native endpoint.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given (normalised), for reports.
    display: String,
    /// `ws://host:port/ws`.
    ws_url: String,
    /// The address every connection goes to (the first usable resolved address).
    addr: SocketAddr,
    /// The QUIC listener: the same host, the port given (`--quic-port`).
    quic_addr: Option<SocketAddr>,
}

impl Target {
    /// Parses `text` (`http://`, `ws://`; a bare `host:port` reads as `http://host:port`),
    /// applies the loopback policy, and resolves the host.
    pub async fn resolve(text: &str, allow_remote: bool) -> anyhow::Result<Target> {
        let url = parse(text)?;
        let host = url
            .host()
            .with_context(|| format!("target {text:?} has no host"))?;
        check_host(&host, allow_remote)?;
        let port = url
            .port_or_known_default()
            .with_context(|| format!("target {text:?} has no port"))?;
        let host_text = match &host {
            Host::Domain(name) => (*name).to_owned(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        };
        let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((host_text.as_str(), port))
            .await
            .with_context(|| format!("cannot resolve {host_text}"))?
            .collect();
        if !allow_remote && let Some(remote) = addrs.iter().find(|addr| !addr.ip().is_loopback()) {
            bail!(
                "{host_text} resolves to {remote}, which is not a loopback address; only this \
                 machine may be loaded (pass --allow-remote to override)"
            );
        }
        // `localhost` often resolves to ::1 first while servers bind 127.0.0.1: prefer IPv4.
        addrs.sort_by_key(|addr| !addr.is_ipv4());
        let addr = *addrs
            .first()
            .with_context(|| format!("{host_text} resolved to no address"))?;
        let path = match url.path() {
            "" | "/" => "/ws",
            path => path,
        };
        let ws_url = format!("ws://{}{path}", authority(addr));
        Ok(Target {
            display: url.as_str().trim_end_matches('/').to_owned(),
            ws_url,
            addr,
            quic_addr: None,
        })
    }

    /// A target at a known address (tests, in-process servers).
    pub fn from_addr(addr: SocketAddr) -> Target {
        Target {
            display: format!("http://{}", authority(addr)),
            ws_url: format!("ws://{}/ws", authority(addr)),
            addr,
            quic_addr: None,
        }
    }

    /// This target with its QUIC listener on `port` of the same (checked) host.
    pub fn with_quic_port(mut self, port: u16) -> Target {
        self.quic_addr = Some(SocketAddr::new(self.addr.ip(), port));
        self
    }

    /// The QUIC listener's address, when a port was given.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.quic_addr
    }

    /// The URL for reports.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The native endpoint, `ws://host:port/ws`.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// The Pusher WebSocket endpoint of app `key`:
    /// `ws://host:port/app/{key}?protocol=7&client=loadtest&version=1`.
    pub fn pusher_ws_url(&self, key: &str) -> String {
        format!(
            "ws://{}/app/{key}?protocol={}&client=loadtest&version=1",
            authority(self.addr),
            protocol::pusher::PROTOCOL
        )
    }

    /// The HTTP base URL (`http://host:port`, no trailing slash) of the Pusher HTTP API.
    pub fn http_base(&self) -> String {
        format!("http://{}", authority(self.addr))
    }

    /// The resolved socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True when the hub is on this machine (so `/proc` can be read for it).
    pub fn is_loopback(&self) -> bool {
        self.addr.ip().is_loopback()
    }

    /// Source addresses for outgoing connections: spreading them over 127.0.0.1..=127.0.0.n
    /// lifts the ~28 000 ephemeral ports of one source address. Only for an IPv4 loopback
    /// target (anything else gets `None`: the kernel picks).
    pub fn source_addresses(&self, n_sources: u8) -> Vec<Option<IpAddr>> {
        match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_loopback() && n_sources > 1 => (1..=n_sources)
                .map(|last| Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))))
                .collect(),
            _ => vec![None],
        }
    }
}

fn parse(text: &str) -> anyhow::Result<Url> {
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let url = Url::parse(&with_scheme).with_context(|| format!("bad target URL {text:?}"))?;
    match url.scheme() {
        "http" | "ws" => Ok(url),
        "https" | "wss" => bail!(
            "target {text:?} asks for TLS, which classhub-loadtest does not compile in; use \
             http:// on loopback"
        ),
        other => bail!("target {text:?} has scheme {other:?}; use http:// or ws://"),
    }
}

/// The loopback policy on the host as written.
fn check_host(host: &Host<&str>, allow_remote: bool) -> anyhow::Result<()> {
    let loopback = match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    };
    if loopback || allow_remote {
        return Ok(());
    }
    bail!(
        "refusing to load {host}: only loopback targets (127.0.0.0/8, ::1, localhost) may be \
         loaded from this machine; pass --allow-remote to override"
    )
}

fn authority(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => v4.to_string(),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn check(text: &str, allow_remote: bool, expected: Result<&str, &str>) {
        let outcome = Target::resolve(text, allow_remote).await;
        match (outcome, expected) {
            (Ok(target), Ok(ws_url)) => assert_eq!(target.ws_url(), ws_url, "{text}"),
            (Err(error), Err(fragment)) => {
                let message = format!("{error:#}");
                assert!(message.contains(fragment), "{text}: {message}");
            }
            (Ok(target), Err(_)) => panic!("{text}: accepted as {}", target.ws_url()),
            (Err(error), Ok(_)) => panic!("{text}: refused: {error:#}"),
        }
    }

    #[tokio::test]
    async fn only_loopback_targets_are_accepted() {
        check("http://127.0.0.1:8009", false, Ok("ws://127.0.0.1:8009/ws")).await;
        check("127.0.0.1:8009", false, Ok("ws://127.0.0.1:8009/ws")).await;
        check("ws://127.3.2.1:9000/", false, Ok("ws://127.3.2.1:9000/ws")).await;
        check("http://[::1]:8009", false, Ok("ws://[::1]:8009/ws")).await;
        check("http://localhost:8009", false, Ok("ws://127.0.0.1:8009/ws")).await;
        check(
            "http://10.0.0.5:8009",
            false,
            Err("refusing to load 10.0.0.5"),
        )
        .await;
        check("http://192.168.1.2:8009", false, Err("only loopback")).await;
        check("http://[fe80::1]:8009", false, Err("refusing")).await;
        check("http://example.org:8009", false, Err("refusing")).await;
        check("https://127.0.0.1:8009", false, Err("TLS")).await;
        check("ftp://127.0.0.1:8009", false, Err("scheme")).await;
    }

    #[tokio::test]
    async fn allow_remote_lifts_the_policy_for_addresses() {
        check("http://10.0.0.5:8009", true, Ok("ws://10.0.0.5:8009/ws")).await;
    }

    #[test]
    fn sources_spread_only_over_ipv4_loopback() {
        let target = Target::from_addr(SocketAddr::from(([127, 0, 0, 1], 8009)));
        assert_eq!(target.source_addresses(3).len(), 3);
        assert_eq!(target.source_addresses(1), vec![None]);
        let v6 = Target::from_addr(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 8009)));
        assert_eq!(v6.source_addresses(8), vec![None]);
    }
}
