//! What the frontend trusts from the proxies in front of it, and the security headers of every
//! response.
//!
//! **Client address.** Behind the Ingress every TCP peer is the proxy, which appends the address
//! it saw to `X-Forwarded-For`. That header is believed only when the peer is a trusted proxy
//! (`--trusted-proxies`, by default the loopback and private ranges a cluster's proxies live in),
//! and only as far as `--trusted-proxy-hops` entries from its end: with one hop (an ALB, an
//! ingress controller) the last entry is the client, whatever the client wrote before it. A
//! direct caller (a peer outside the trusted ranges) is always known by its own address.
//!
//! **Headers.** Every response says `X-Content-Type-Options: nosniff`, `Referrer-Policy` and
//! `X-Frame-Options: DENY`, and carries a Content-Security-Policy: the page's own
//! ([`crate::assets::PAGE_CSP`]: scripts and styles from this origin only, no inline script or
//! style, no framing), kept as the page's handler set it; for everything else, nothing at all may
//! load. HSTS is
//! sent when the request came over HTTPS, as a trusted proxy says in `X-Forwarded-Proto`.

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The ranges a cluster's proxies are in when `--trusted-proxies` is not given.
pub use quakestream_contract::frontend::DEFAULT_TRUSTED_PROXIES;

/// Everything else (JSON, CSV, event streams, metrics) loads nothing and is never framed.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Who the client is, from the TCP peer and the headers the trusted proxies wrote.
#[derive(Debug, Clone)]
pub struct Proxies {
    header: HeaderName,
    hops: usize,
    trusted: Arc<[IpNet]>,
}

impl Proxies {
    /// `hops` entries of `header` are believed, from trusted peers only. 0 hops: headers are
    /// never believed.
    pub fn new(header: &str, hops: usize, trusted: &str) -> Result<Proxies, String> {
        let header = HeaderName::try_from(header.trim()).map_err(|e| format!("header {header:?}: {e}"))?;
        let trusted = trusted
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|e| format!("trusted proxy {s:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Proxies {
            header,
            hops,
            trusted: trusted.into(),
        })
    }

    /// Believes nothing: the client is the TCP peer.
    pub fn none() -> Proxies {
        Proxies::new("x-forwarded-for", 0, "").expect("valid")
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// Whether the request came through a trusted proxy (so its forwarded headers count).
    fn via_proxy(&self, peer: Option<IpAddr>) -> bool {
        self.hops > 0 && peer.is_some_and(|p| self.is_trusted(p))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the header's
    /// entries from the end, each written by a trusted proxy, at most `hops` of them.
    pub fn client(&self, peer: Option<IpAddr>, headers: &axum::http::HeaderMap) -> Option<IpAddr> {
        if !self.via_proxy(peer) {
            return peer;
        }
        let entries: Vec<&str> = headers
            .get_all(&self.header)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        // The last `hops` entries were written by the trusted proxies; the one each saw is the
        // next one in. Stop at the first that is not an address or not a proxy.
        for (i, entry) in entries.iter().rev().take(self.hops).enumerate() {
            let Ok(ip) = entry.parse::<IpAddr>() else { break };
            client = Some(ip);
            if i + 1 < self.hops && !self.is_trusted(ip) {
                break;
            }
        }
        client
    }

    /// Whether the client spoke HTTPS to the first trusted proxy.
    pub fn https(&self, peer: Option<IpAddr>, headers: &axum::http::HeaderMap) -> bool {
        self.via_proxy(peer)
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }
}

pub fn peer(req: &Request) -> Option<IpAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Middleware: the security headers of every response (see the module docs).
pub async fn headers(axum::extract::State(p): axum::extract::State<Proxies>, req: Request, next: Next) -> Response {
    let https = p.https(peer(&req), req.headers());
    let mut resp = next.run(req).await;
    let is_page = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let h = resp.headers_mut();
    // The page's handler states the policy the page is built for; nothing else loads anything.
    let csp = if is_page { crate::assets::PAGE_CSP } else { API_CSP };
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(csp));
    if https {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies_and_only_so_far() {
        let one = Proxies::new("X-Forwarded-For", 1, DEFAULT_TRUSTED_PROXIES).unwrap();
        // Through the ALB: the last entry is the client, whatever it wrote itself before.
        assert_eq!(
            one.client(ip("10.0.3.7"), &xff("6.6.6.6, 203.0.113.9")),
            ip("203.0.113.9")
        );
        // A direct caller from outside is its own address, whatever it claims.
        assert_eq!(one.client(ip("198.51.100.1"), &xff("1.2.3.4")), ip("198.51.100.1"));
        // No header, or garbage: the peer.
        assert_eq!(one.client(ip("10.0.3.7"), &HeaderMap::new()), ip("10.0.3.7"));
        assert_eq!(one.client(ip("10.0.3.7"), &xff("not-an-ip")), ip("10.0.3.7"));
        // An IPv4 peer seen as IPv6-mapped is the same peer.
        assert_eq!(
            one.client(ip("::ffff:10.0.3.7"), &xff("203.0.113.9")),
            ip("203.0.113.9")
        );
        // Two hops (a CDN in front of the ALB): the CDN's entry is trusted only if it is a proxy.
        let two = Proxies::new("X-Forwarded-For", 2, "10.0.0.0/8,192.0.2.0/24").unwrap();
        assert_eq!(
            two.client(ip("10.0.0.5"), &xff("6.6.6.6, 203.0.113.9, 192.0.2.10")),
            ip("203.0.113.9")
        );
        assert_eq!(
            two.client(ip("10.0.0.5"), &xff("6.6.6.6, 203.0.113.9")),
            ip("203.0.113.9")
        );
        // Zero hops: never believed.
        let zero = Proxies::new("X-Forwarded-For", 0, DEFAULT_TRUSTED_PROXIES).unwrap();
        assert_eq!(zero.client(ip("10.0.3.7"), &xff("203.0.113.9")), ip("10.0.3.7"));
        assert!(Proxies::new("X-Forwarded-For", 1, "10.0.0.0/33").is_err());
    }

    #[test]
    fn https_is_what_a_trusted_proxy_says() {
        let one = Proxies::new("X-Forwarded-For", 1, DEFAULT_TRUSTED_PROXIES).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(one.https(ip("10.1.2.3"), &h));
        assert!(!one.https(ip("198.51.100.1"), &h), "not from a direct caller");
        assert!(!Proxies::none().https(ip("10.1.2.3"), &h));
    }
}
