//! Checks every request passes before its route: the size of its head, answered in JSON
//! before hyper's own larger limits answer with an empty body, and, on a loopback listener,
//! its `Host` (against DNS rebinding: a page of another site whose name is made to resolve to
//! 127.0.0.1 would otherwise reach the server as its own origin).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// The longest request target (path and query) answered: a longer one gets 414. Hyper's own
/// limit, answered without a body, is 65,534 bytes.
pub(crate) const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The largest head (request line and headers) answered: a larger one gets 431. Hyper's own
/// limit, answered without a body, is its read buffer (about 400 kB).
pub(crate) const MAX_HEAD_BYTES: usize = 32 * 1024;
/// The most headers a request may have: more get 431.
pub(crate) const MAX_HEADERS: usize = 100;
/// Hyper's limit on headers, above ours so that ours answers first (and in JSON).
pub(crate) const HYPER_MAX_HEADERS: usize = 2 * MAX_HEADERS;

/// Which `Host` a request may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostRule {
    /// Any: the server was bound to an address others reach, by choice.
    Any,
    /// A loopback name or address only: the server was bound to a loopback address.
    Loopback,
}

impl HostRule {
    /// The rule for a server listening on `addr`.
    pub(crate) fn for_listener(addr: SocketAddr) -> Self {
        if addr.ip().is_loopback() { HostRule::Loopback } else { HostRule::Any }
    }
}

/// Whether `host` (a `Host` header's value: a name or address and an optional port) names this
/// machine's loopback interface: `localhost` or a name under `.localhost` (RFC 6761), an
/// address of 127.0.0.0/8 or `[::1]`.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inside, "")) => (inside, None),
            Some((inside, after)) => match after.strip_prefix(':') {
                Some(port) => (inside, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    if !port.is_none_or(|port| port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if host.starts_with('[') {
        return name.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.strip_suffix(".localhost").is_some_and(is_dns_name)
        || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `name` is dot-separated labels of letters, digits and hyphens.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Refuses a request whose head is over our limits (414, 431) or, under [`HostRule::Loopback`],
/// that names another host than this machine's (403). A request without `Host` (HTTP/1.0) is
/// not a browser's, and passes.
pub(crate) async fn check_request(State(rule): State<HostRule>, request: Request, next: Next) -> Response {
    match refusal(rule, &request) {
        Some(error) => error.into_response(),
        None => next.run(request).await,
    }
}

fn refusal(rule: HostRule, request: &Request) -> Option<ApiError> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len()) + uri.authority().map_or(0, |a| a.as_str().len());
    if target > MAX_TARGET_BYTES {
        let message = format!("the request target is over the limit of {MAX_TARGET_BYTES} bytes");
        return Some(ApiError::new(StatusCode::URI_TOO_LONG, message));
    }
    let headers = request.headers();
    if headers.len() > MAX_HEADERS {
        let message = format!("the request has {} headers, over the limit of {MAX_HEADERS}", headers.len());
        return Some(ApiError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message));
    }
    let head = headers.iter().fold(target, |sum, (name, value)| sum + name.as_str().len() + value.len() + 4);
    if head > MAX_HEAD_BYTES {
        let message = format!("the request's headers are over the limit of {MAX_HEAD_BYTES} bytes");
        return Some(ApiError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, message));
    }
    if rule == HostRule::Loopback {
        let named = headers
            .get_all(header::HOST)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .chain(uri.authority().map(|a| a.as_str()));
        for host in named {
            if !is_loopback_host(host) {
                let message = format!(
                    "this server answers only requests for localhost, not for {:?}",
                    host.chars().take(100).collect::<String>()
                );
                return Some(ApiError::new(StatusCode::FORBIDDEN, message));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_addresses_pass_with_any_port() {
        for host in [
            "localhost",
            "LocalHost:8080",
            "localhost:",
            "app.localhost",
            "a-b.c.localhost:1",
            "127.0.0.1",
            "127.0.0.1:65535",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn other_hosts_fail() {
        for host in [
            "",
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "localhost.",
            "127.0.0.1.evil.example",
            ".localhost",
            "a..localhost",
            "-a.localhost",
            "a_b.localhost",
            "0.0.0.0",
            "10.0.0.1:80",
            "127.0.0.1:80:80",
            "127.0.0.1:http",
            "127.0.0.1:123456",
            "[::2]:80",
            "[::1",
            "[::1]x",
            "[::1]:8o",
            "::1",
            "localhost@evil.example",
            "0x7f.0.0.1",
            "2130706433",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn the_rule_follows_the_listening_address() {
        let rule = |addr: &str| HostRule::for_listener(addr.parse().unwrap());
        assert_eq!(rule("127.0.0.1:8080"), HostRule::Loopback);
        assert_eq!(rule("127.0.0.2:80"), HostRule::Loopback);
        assert_eq!(rule("[::1]:8080"), HostRule::Loopback);
        assert_eq!(rule("0.0.0.0:8080"), HostRule::Any);
        assert_eq!(rule("[::]:8080"), HostRule::Any);
        assert_eq!(rule("192.168.1.20:8080"), HostRule::Any);
    }
}
