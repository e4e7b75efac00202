//! The browser client and demo page, built into the binary and served at the
//! HTTP root, so one binary is a whole world with its front end.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One file under `web/`: its path below the root, its media type, its bytes.
macro_rules! web_files {
    ($($path:literal => $media:literal),* $(,)?) => {
        /// Every served file.
        pub(crate) const FILES: &[(&str, &str, &[u8])] = &[
            $(($path, $media, include_bytes!(concat!("../../web/", $path)))),*
        ];
    };
}

web_files! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "app/state.js" => "text/javascript; charset=utf-8",
    "app/dom.js" => "text/javascript; charset=utf-8",
    "app/api.js" => "text/javascript; charset=utf-8",
    "app/account.js" => "text/javascript; charset=utf-8",
    "app/lobby.js" => "text/javascript; charset=utf-8",
    "app/appearance.js" => "text/javascript; charset=utf-8",
    "app/session.js" => "text/javascript; charset=utf-8",
    "app/input.js" => "text/javascript; charset=utf-8",
    "app/chat.js" => "text/javascript; charset=utf-8",
    "app/panel.js" => "text/javascript; charset=utf-8",
    "app/render.js" => "text/javascript; charset=utf-8",
    "app/voice.js" => "text/javascript; charset=utf-8",
    "meridian.js" => "text/javascript; charset=utf-8",
    "client/errors.js" => "text/javascript; charset=utf-8",
    "client/transports.js" => "text/javascript; charset=utf-8",
    "client/options.js" => "text/javascript; charset=utf-8",
    "client/connection.js" => "text/javascript; charset=utf-8",
    "client/world.js" => "text/javascript; charset=utf-8",
    "client/intent.js" => "text/javascript; charset=utf-8",
    "client/inventory.js" => "text/javascript; charset=utf-8",
    "client/stats.js" => "text/javascript; charset=utf-8",
    "client/voice.js" => "text/javascript; charset=utf-8",
    "interpolation.js" => "text/javascript; charset=utf-8",
    "protocol.js" => "text/javascript; charset=utf-8",
    "protocol/errors-and-limits.js" => "text/javascript; charset=utf-8",
    "protocol/postcard.js" => "text/javascript; charset=utf-8",
    "protocol/messages.js" => "text/javascript; charset=utf-8",
    "protocol/framing.js" => "text/javascript; charset=utf-8",
    "protocol/snapshot.js" => "text/javascript; charset=utf-8",
    "protocol/snapshot-ring.js" => "text/javascript; charset=utf-8",
    "protocol/quantization.js" => "text/javascript; charset=utf-8",
    "assets/avatars/bear.svg" => "image/svg+xml",
    "assets/avatars/cat.svg" => "image/svg+xml",
    "assets/avatars/fox.svg" => "image/svg+xml",
    "assets/avatars/frog.svg" => "image/svg+xml",
    "assets/avatars/owl.svg" => "image/svg+xml",
    "assets/avatars/robot.svg" => "image/svg+xml",
    "assets/elements/bench.svg" => "image/svg+xml",
    "assets/elements/flowers.svg" => "image/svg+xml",
    "assets/elements/fountain.svg" => "image/svg+xml",
    "assets/elements/lamp.svg" => "image/svg+xml",
    "assets/elements/tree.svg" => "image/svg+xml",
    "dashboard/index.html" => "text/html; charset=utf-8",
    "dashboard/dashboard.css" => "text/css; charset=utf-8",
    "dashboard/main.js" => "text/javascript; charset=utf-8",
    "dashboard/session.js" => "text/javascript; charset=utf-8",
    "dashboard/series.js" => "text/javascript; charset=utf-8",
    "dashboard/chart.js" => "text/javascript; charset=utf-8",
    "dashboard/world-map.js" => "text/javascript; charset=utf-8",
    "dashboard/knobs.js" => "text/javascript; charset=utf-8",
}

/// The served file at `path` (below `web/`), or 404.
pub(crate) fn file(path: &str) -> Response {
    match FILES.iter().find(|(name, _, _)| *name == path) {
        Some((_, media, bytes)) => (
            [
                (header::CONTENT_TYPE, *media),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `GET /`: the demo page.
pub(crate) async fn index() -> Response {
    file("index.html")
}

/// `GET /{*path}`: a file of the client, or 404.
pub(crate) async fn asset(Path(path): Path<String>) -> Response {
    file(&path)
}

#[cfg(test)]
mod tests {
    use super::FILES;

    /// Folders under `web/` that the page never loads: its tests, the browser
    /// test, the TypeScript example, the generated declarations and npm's.
    const UNSERVED_FOLDERS: &[&str] = &["test", "e2e", "examples", "types", "node_modules"];

    /// Files of the npm package and its type check, not of the page.
    const UNSERVED_FILES: &[&str] = &["package.json", "package-lock.json", "tsconfig.json"];

    /// Every file under `web/` (but those above and the notes) is served, so
    /// adding one without listing it fails here rather than in a browser.
    #[test]
    fn every_web_file_is_listed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut found = Vec::new();
        let mut folders = vec![root.clone()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).expect("web/ reads") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    if path.file_name().is_some_and(|name| {
                        !UNSERVED_FOLDERS.iter().any(|unserved| name == *unserved)
                    }) {
                        folders.push(path);
                    }
                } else if path.extension().is_some_and(|ext| ext != "md")
                    && path.file_name().is_some_and(|name| {
                        !UNSERVED_FILES.iter().any(|unserved| name == *unserved)
                    })
                {
                    let relative = path.strip_prefix(&root).expect("below web/");
                    found.push(relative.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        found.sort();
        let mut listed: Vec<String> = FILES
            .iter()
            .map(|(path, _, _)| (*path).to_owned())
            .collect();
        listed.sort();
        assert_eq!(found, listed);
    }
}
