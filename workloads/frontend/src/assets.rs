//! The page and its assets, bundled from npm packages by `web/build.mjs` at build time (see
//! build.rs) and embedded in the binary. Nothing is fetched from the internet at run time, and
//! nothing is compressed per request: every text file comes with brotli and gzip copies made at
//! build time, chosen by `Accept-Encoding`.
//!
//! Caching: the bundle, the basemap and the plate boundaries have content-hashed names
//! (`app-0123456789ab.js`) and are served `immutable` for a year; `index.html` (which names them),
//! `THIRD-PARTY.txt` and `robots.txt` are `no-cache`. Every file has a strong ETag (a SHA-256
//! prefix of its contents, one per encoding), so a revalidation is a 304 without a body.
//!
//! The page is built for a strict Content-Security-Policy (no inline script or style); the page's
//! response carries that policy, see [`PAGE_CSP`].

use crate::api::ApiError;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::LazyLock;

static WEB: Dir<'static> = include_dir!("$OUT_DIR/web");

/// The policy the page is built for: scripts, styles and data only from this origin, map tiles
/// from OpenStreetMap (the online basemap), `data:` images (Leaflet's control icons are inlined
/// in the stylesheet), no plugins, no framing.
pub const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: https://tile.openstreetmap.org; connect-src 'self'; font-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `Cache-Control` of files whose names carry a hash of their contents.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything else: cached, but revalidated (a 304) on every use.
pub const REVALIDATE: &str = "no-cache";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Br,
    Gzip,
}

impl Encoding {
    fn token(self) -> &'static str {
        match self {
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
        }
    }
    fn suffix(self) -> &'static str {
        match self {
            Encoding::Br => ".br",
            Encoding::Gzip => ".gz",
        }
    }
}

/// One line of `manifest.json` (written by `web/build.mjs`).
#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    content_type: String,
    etag: String,
    immutable: bool,
    /// Compressed copies that exist beside the file, in order of preference.
    encodings: Vec<Encoding>,
}

static MANIFEST: LazyLock<HashMap<String, Entry>> = LazyLock::new(|| {
    let raw = WEB
        .get_file("manifest.json")
        .expect("web/build.mjs writes manifest.json")
        .contents();
    serde_json::from_slice(raw).expect("manifest.json is valid")
});

pub fn router() -> Router {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { serve("index.html", &h) }))
        .route(
            "/robots.txt",
            get(|h: HeaderMap| async move { serve("robots.txt", &h) }),
        )
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>, h: HeaderMap| async move { serve(&path, &h) }),
        )
}

/// The response for one embedded file: the best encoding the client accepts, or a 304 when its
/// `If-None-Match` names the file's current contents.
pub fn serve(name: &str, req: &HeaderMap) -> Response {
    // Only names from the manifest: no paths, no compressed copies by their own names.
    let Some(entry) = MANIFEST.get(name) else {
        return ApiError::not_found("no such asset").into_response();
    };
    let encoding = negotiate(req, &entry.encodings);
    let etag = match encoding {
        Some(e) => format!("\"{}.{}\"", entry.etag, e.token()),
        None => format!("\"{}\"", entry.etag),
    };
    let mut h = HeaderMap::new();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if entry.immutable { IMMUTABLE } else { REVALIDATE }),
    );
    if !entry.encodings.is_empty() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if name == "index.html" {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        );
    }
    if not_modified(req, &entry.etag) {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    let file = match encoding {
        Some(e) => WEB.get_file(format!("{name}{}", e.suffix())),
        None => WEB.get_file(name),
    };
    let Some(file) = file else {
        return ApiError::not_found("no such asset").into_response();
    };
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&entry.content_type).expect("a valid content type"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(e) = encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e.token()));
    }
    (StatusCode::OK, h, file.contents()).into_response()
}

/// The first of `available` (in the server's order of preference) that the client accepts with a
/// q-value above 0, by name or through `*`; `None` means the file as it is.
pub fn negotiate(req: &HeaderMap, available: &[Encoding]) -> Option<Encoding> {
    let mut accepted: Vec<(String, f32)> = Vec::new();
    for value in req
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    let p = p.trim();
                    p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
                })
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if !coding.is_empty() {
                accepted.push((coding, q));
            }
        }
    }
    let q_of = |name: &str| {
        let exact = accepted
            .iter()
            .find(|(c, _)| c == name || (name == "gzip" && c == "x-gzip"));
        exact
            .or_else(|| accepted.iter().find(|(c, _)| c == "*"))
            .map(|(_, q)| *q)
    };
    available
        .iter()
        .copied()
        .find(|e| q_of(e.token()).is_some_and(|q| q > 0.0))
}

/// Whether `If-None-Match` names any encoding of the contents whose ETag base is `base` (weak
/// comparison, as RFC 9110 asks for If-None-Match), or is `*`.
fn not_modified(req: &HeaderMap, base: &str) -> bool {
    req.get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| {
            t == "*"
                || t == base
                || t.strip_prefix(base)
                    .is_some_and(|rest| rest == ".br" || rest == ".gzip")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn headers(kv: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in kv {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn hashed(stem: &str, ext: &str) -> &'static str {
        MANIFEST
            .keys()
            .find(|k| k.starts_with(&format!("{stem}-")) && k.ends_with(&format!(".{ext}")))
            .map(|k| WEB.get_file(k).unwrap().path().to_str().unwrap())
            .unwrap_or_else(|| panic!("no hashed {stem}.{ext} in the manifest"))
    }

    async fn body(r: Response) -> Vec<u8> {
        axum::body::to_bytes(r.into_body(), usize::MAX).await.unwrap().to_vec()
    }

    #[test]
    fn encodings_are_negotiated_with_q_values_and_wildcards() {
        let both = [Encoding::Br, Encoding::Gzip];
        let n = |v: &str| negotiate(&headers(&[("accept-encoding", v)]), &both);
        assert_eq!(n("gzip, deflate, br, zstd"), Some(Encoding::Br));
        assert_eq!(n("gzip"), Some(Encoding::Gzip));
        assert_eq!(n("x-gzip"), Some(Encoding::Gzip));
        assert_eq!(n("br;q=0, gzip;q=0.5"), Some(Encoding::Gzip));
        assert_eq!(n("br;q=0, gzip;q=0"), None);
        assert_eq!(n("*"), Some(Encoding::Br));
        assert_eq!(n("*;q=0, gzip"), Some(Encoding::Gzip));
        assert_eq!(n("identity"), None);
        assert_eq!(negotiate(&HeaderMap::new(), &both), None);
        assert_eq!(n("BR"), Some(Encoding::Br));
        // Only what exists is offered.
        assert_eq!(
            negotiate(&headers(&[("accept-encoding", "br")]), &[Encoding::Gzip]),
            None
        );
    }

    #[test]
    fn the_page_and_its_assets_are_in_the_manifest_with_hashed_names() {
        let index = std::str::from_utf8(WEB.get_file("index.html").unwrap().contents()).unwrap();
        for (stem, ext) in [("app", "js"), ("app", "css"), ("icon", "svg")] {
            let name = hashed(stem, ext);
            assert!(index.contains(&format!("/assets/{name}")), "index.html names {name}");
            assert!(MANIFEST[name].immutable);
        }
        assert!(!MANIFEST["index.html"].immutable);
        assert!(!index.contains("style="), "no inline style attributes (CSP)");
        assert!(
            !index.contains("<script>") && !index.contains("<style"),
            "no inline script or style (CSP)"
        );
        for (name, e) in MANIFEST.iter() {
            assert!(WEB.get_file(name).is_some(), "{name} is embedded");
            for enc in &e.encodings {
                assert!(
                    WEB.get_file(format!("{name}{}", enc.suffix())).is_some(),
                    "{name}{} is embedded",
                    enc.suffix()
                );
            }
        }
    }

    #[tokio::test]
    async fn precompressed_copies_decode_to_the_file_and_carry_their_own_etag() {
        let name = hashed("app", "js");
        let plain = WEB.get_file(name).unwrap().contents();
        let br = serve(name, &headers(&[("accept-encoding", "gzip, br")]));
        assert_eq!(br.status(), StatusCode::OK);
        assert_eq!(br.headers()[header::CONTENT_ENCODING], "br");
        assert_eq!(br.headers()[header::CACHE_CONTROL], IMMUTABLE);
        assert_eq!(br.headers()[header::VARY], "Accept-Encoding");
        assert_eq!(br.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        let br_tag = br.headers()[header::ETAG].to_str().unwrap().to_owned();
        let mut decoded = Vec::new();
        brotli_decompressor::Decompressor::new(&body(br).await[..], 4096)
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, plain);

        let gz = serve(name, &headers(&[("accept-encoding", "gzip")]));
        assert_eq!(gz.headers()[header::CONTENT_ENCODING], "gzip");
        let gz_tag = gz.headers()[header::ETAG].to_str().unwrap().to_owned();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&body(gz).await[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, plain);

        let id = serve(name, &HeaderMap::new());
        assert!(id.headers().get(header::CONTENT_ENCODING).is_none());
        let id_tag = id.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert_eq!(body(id).await, plain);
        assert!(
            br_tag != gz_tag && gz_tag != id_tag && br_tag != id_tag,
            "{br_tag} {gz_tag} {id_tag}"
        );
        assert!(!br_tag.starts_with("W/"), "a strong ETag");
    }

    #[tokio::test]
    async fn a_matching_etag_gives_304_and_a_changed_one_the_file() {
        let first = serve("index.html", &headers(&[("accept-encoding", "br")]));
        assert_eq!(first.headers()[header::CACHE_CONTROL], REVALIDATE);
        assert_eq!(first.headers()[header::CONTENT_SECURITY_POLICY], PAGE_CSP);
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_owned();
        let again = serve(
            "index.html",
            &headers(&[("accept-encoding", "br"), ("if-none-match", &tag)]),
        );
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], tag.as_str());
        assert!(body(again).await.is_empty());
        // The tag of another encoding of the same contents is just as good; a weak one too.
        let gz = serve("index.html", &headers(&[("if-none-match", &format!("W/{tag}"))]));
        assert_eq!(gz.status(), StatusCode::NOT_MODIFIED);
        let listed = serve("index.html", &headers(&[("if-none-match", &format!("\"old\", {tag}"))]));
        assert_eq!(listed.status(), StatusCode::NOT_MODIFIED);
        let stale = serve(
            "index.html",
            &headers(&[("if-none-match", "\"0123456789abcdef01234567\"")]),
        );
        assert_eq!(stale.status(), StatusCode::OK);
        assert!(!body(stale).await.is_empty());
        // A tag that only starts like the current one is another version.
        let prefix = serve(
            "index.html",
            &headers(&[("if-none-match", &format!("{}x\"", &tag[..tag.len() - 1]))]),
        );
        assert_eq!(prefix.status(), StatusCode::OK);
    }

    #[test]
    fn unknown_names_paths_and_compressed_copies_by_name_are_404() {
        let name = hashed("app", "js");
        for bad in [
            "nope.js",
            "../Cargo.toml",
            "/etc/passwd",
            "manifest.json",
            &format!("{name}.br"),
            "",
        ] {
            assert_eq!(serve(bad, &HeaderMap::new()).status(), StatusCode::NOT_FOUND, "{bad}");
        }
    }
}
