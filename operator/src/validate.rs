//! Syntax checks of single values, the same rules as the CRD's patterns (the tests prove each
//! against its pattern), written out so the operator needs no regular-expression engine.

/// DNS-1035 label: lowercase letters, digits and '-', starting with a letter, at most 63.
pub fn dns_1035_label(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase()) && dns_1123_label(s)
}

/// DNS-1123 label: lowercase letters, digits and '-', alphanumeric at both ends, at most 63.
pub fn dns_1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns_1123_label)
}

/// A host name, optionally starting with a `*.` wildcard.
pub fn host(s: &str) -> bool {
    dns_subdomain(s.strip_prefix("*.").unwrap_or(s))
}

/// A legal Kafka topic name.
pub fn topic_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= crate::crd::MAX_TOPIC_NAME_LEN
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A legal DynamoDB table name.
pub fn table_name(s: &str) -> bool {
    (3..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `ws://` or `wss://` and something after it.
pub fn ws_url(s: &str) -> bool {
    ["ws://", "wss://"]
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

/// `http://` or `https://` and something after it.
pub fn http_url(s: &str) -> bool {
    ["http://", "https://"]
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
}

/// An IAM role ARN: `arn:<partition>:iam::<12 digits>:role/<name>`.
pub fn role_arn(s: &str) -> bool {
    let mut parts = s.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    partition.starts_with("aws")
        && partition[3..].bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource.strip_prefix("role/").is_some_and(|r| !r.is_empty())
}

/// A qualified name (annotation keys, resource names): an optional DNS-subdomain prefix and
/// `/`, then a name of at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends.
pub fn qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(dns_subdomain)
        && !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A label value: at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends (or empty).
pub fn label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

/// A Kubernetes quantity: a signed decimal number, then a binary suffix (`Ki` ... `Ei`), a
/// decimal one (`n u m k M G T P E`) or an exponent (`e3`, `E-2`).
pub fn quantity(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let Some(rest) = number(s) else {
        return false;
    };
    match rest {
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => true,
        _ => rest
            .strip_prefix(['e', 'E'])
            .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
            .and_then(number)
            .is_some_and(str::is_empty),
    }
}

/// A decimal number (`12`, `1.5`, `1.`, `.5`) at the start of `s`; returns the rest.
fn number(s: &str) -> Option<&str> {
    let int = s.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &s[int..];
    match rest.strip_prefix('.') {
        Some(frac) => {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            (int > 0 || n > 0).then(|| &frac[n..])
        }
        None => (int > 0).then_some(rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd;
    use regex::Regex;

    /// Every check agrees with the pattern the CRD gives the API server, on strings built to
    /// probe each rule's edges.
    fn agree(pattern: &str, check: fn(&str) -> bool, cases: &[&str], max_len: usize) {
        let re = Regex::new(pattern).unwrap();
        for s in cases {
            let by_pattern = re.is_match(s) && s.len() <= max_len;
            assert_eq!(check(s), by_pattern, "{s:?} against {pattern}");
        }
    }

    #[test]
    fn quantity_matches_the_api_servers_pattern() {
        let cases = [
            "1", "100m", "0.5", "1.5Gi", "+1", "-1", ".5", "1.", "1e3", "1E3", "1E", "1e", "1Ki", "1ki", "1Mi", "2G",
            "1e-3", "1.5e+3", "", "m", "1 m", "1Gi ", "1.2.3", "1mi", "1KiB", "e3", "1e3.5", "1.5.", "..", "1n", "1u",
            "1k", "1K",
        ];
        agree(crd::QUANTITY_PATTERN, quantity, &cases, usize::MAX);
    }

    #[test]
    fn names_match_their_patterns() {
        let dns = [
            "a",
            "alb",
            "cloud-provider-kind",
            "a.b",
            "a-.b",
            "-a",
            "a-",
            "A",
            "a_b",
            "a..b",
            ".a",
            "a.",
            "qs-tls",
            "x1.y2",
            "",
        ];
        agree(crd::DNS_SUBDOMAIN_PATTERN, dns_subdomain, &dns, 253);
        agree(crd::DNS_LABEL_PATTERN, dns_1123_label, &dns, 63);
        let hosts = [
            "quakes.example.org",
            "*.example.org",
            "*",
            "*.",
            "a.*.b",
            "Example.org",
            "quakes",
        ];
        agree(crd::HOST_PATTERN, host, &hosts, 253);
        let topics = ["quakes", "quakes.dlq", "a_b-c", "bad topic", "q/x", ""];
        agree(crd::TOPIC_NAME_PATTERN, topic_name, &topics, 249);
        let keys = [
            "team",
            "eks.amazonaws.com/role-arn",
            "alb.ingress.kubernetes.io/scheme",
            "a/b/c",
            "/x",
            "x/",
            "Prefix.Upper/x",
            "x_y.z",
            "-x",
            "x-",
            "bad key",
            "example.com/Name_1",
            &"n".repeat(63),
            &"n".repeat(64),
        ];
        agree(
            crd::ANNOTATION_KEY_PATTERN,
            qualified_name,
            &keys,
            crd::MAX_ANNOTATION_KEY_LEN,
        );
        let arns = [
            "arn:aws:iam::123456789012:role/quakestream-consumer",
            "arn:aws-cn:iam::123456789012:role/path/r",
            "arn:aws:iam::123456789012:user/u",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::12:role/x",
            "arn:aws:iam::123456789012:role/",
        ];
        agree(crd::ROLE_ARN_PATTERN, role_arn, &arns, usize::MAX);
    }

    #[test]
    fn metadata_names_and_label_values() {
        assert!(dns_1035_label("quakestream"));
        assert!(!dns_1035_label("1abc"));
        assert!(!dns_1035_label(&"a".repeat(64)));
        assert!(label_value("0.1.0"));
        assert!(label_value(""));
        assert!(!label_value("sha256:abc"));
        assert!(table_name("quakes") && !table_name("qs") && !table_name("bad table"));
        assert!(ws_url("wss://x") && !ws_url("wss://") && !ws_url("http://x"));
        assert!(http_url("http://dynoxide:8000") && !http_url("dynoxide:8000"));
    }
}
