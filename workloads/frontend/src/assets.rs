//! The page and its assets, bundled from npm packages by `web/build.mjs` at build time (see
//! build.rs) and embedded in the binary. Nothing is fetched from the internet at run time.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};

static WEB: Dir<'static> = include_dir!("$OUT_DIR/web");

pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
}

async fn index() -> Response {
    serve("index.html", "no-cache")
}

async fn asset(Path(path): Path<String>) -> Response {
    serve(&path, "public, max-age=300")
}

fn serve(path: &str, cache: &'static str) -> Response {
    if path.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match WEB.get_file(path) {
        Some(f) => {
            let ctype = match path.rsplit('.').next().unwrap_or("") {
                "html" => "text/html; charset=utf-8",
                "js" | "mjs" => "text/javascript; charset=utf-8",
                "css" => "text/css; charset=utf-8",
                "json" => "application/json",
                "svg" => "image/svg+xml",
                "png" => "image/png",
                "txt" | "md" => "text/plain; charset=utf-8",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, ctype),
                    (header::CACHE_CONTROL, cache),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                f.contents(),
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
