//! Serves the web client (`web/`: the TRTC-compatible browser SDK and the answer page).

use actix_web::{web, HttpRequest, HttpResponse};
use std::path::{Component, Path, PathBuf};

/// Routes `/` and `/{file}` to files under `root`.
pub fn configure(cfg: &mut web::ServiceConfig, root: PathBuf) {
    cfg.app_data(web::Data::new(WebRoot(root)))
        .route("/", web::get().to(serve))
        .route("/{path:.*}", web::get().to(serve));
}

struct WebRoot(PathBuf);

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Maps a request path to a file under root, refusing anything that could climb out of it.
pub fn resolve(root: &Path, request_path: &str) -> Option<PathBuf> {
    let relative = request_path.trim_start_matches('/');
    let relative = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    let mut path = root.to_path_buf();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => path.push(part),
            _ => return None,
        }
    }
    Some(path)
}

async fn serve(req: HttpRequest, root: web::Data<WebRoot>) -> HttpResponse {
    let Some(path) = resolve(&root.0, req.path()) else {
        return HttpResponse::BadRequest().body("bad path");
    };
    match tokio::fs::read(&path).await {
        Ok(body) => HttpResponse::Ok()
            .content_type(content_type(&path))
            .insert_header(("Cache-Control", "no-cache"))
            .body(body),
        Err(_) => HttpResponse::NotFound().body("not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_climb_out_of_the_web_root() {
        let root = Path::new("/srv/web");
        assert_eq!(
            resolve(root, "/"),
            Some(PathBuf::from("/srv/web/index.html"))
        );
        assert_eq!(
            resolve(root, "/trtc.js"),
            Some(PathBuf::from("/srv/web/trtc.js"))
        );
        assert_eq!(resolve(root, "/../etc/passwd"), None);
        assert_eq!(resolve(root, "/a/../../b"), None);
    }
}
