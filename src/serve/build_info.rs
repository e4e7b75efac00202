//! `meridian_build_info`: what is running, as labels on a constant 1.

use super::settings::ServeTable;

/// The commit built, when the build said (`MERIDIAN_GIT_COMMIT=$(git
/// rev-parse HEAD) cargo build ...`); anything but hex digits is left out.
const GIT_COMMIT: Option<&str> = option_env!("MERIDIAN_GIT_COMMIT");

/// The metric's text: the version, the commit (when known), the transport
/// and the mode (`embedded` or `cluster`).
pub(crate) fn render(serve: &ServeTable) -> String {
    let mode = if serve.shard_id.is_some() {
        "cluster"
    } else {
        "embedded"
    };
    let commit = GIT_COMMIT
        .filter(|commit| !commit.is_empty() && commit.chars().all(|c| c.is_ascii_hexdigit()))
        .map(|commit| format!(",git_commit=\"{commit}\""))
        .unwrap_or_default();
    format!(
        "# HELP meridian_build_info The running build: version, commit (when the build said), transport and mode.\n\
         # TYPE meridian_build_info gauge\n\
         meridian_build_info{{version=\"{}\"{commit},transport=\"{}\",mode=\"{mode}\"}} 1\n",
        env!("CARGO_PKG_VERSION"),
        serve.transport.label(),
    )
}
