//! What `meridian serve` says at start: where each port listens, the data
//! it keeps, the development certificate, and the last line ("ready") that
//! tests and scripts wait for.

use meridian_netcode::driver::tls::DevCertificate;

use super::settings::ServeSettings;

/// Where the server listens, and the space it hosts.
pub(crate) struct Listening {
    pub(crate) game: std::net::SocketAddr,
    pub(crate) http: std::net::SocketAddr,
    pub(crate) space_id: i64,
}

/// Says where everything listens, one event a line; the last one says
/// "ready; stop with Ctrl-C or SIGTERM" and carries the HTTP address (tests
/// and scripts wait for it).
pub(crate) fn announce(
    settings: &ServeSettings,
    listening: &Listening,
    http_server: &crate::http::server::HttpServer,
    certificate: &DevCertificate,
) {
    let game_address = listening.game;
    let http_address = listening.http;
    let config = &settings.sim;
    tracing::info!(
        zone = settings.serve.zone_id,
        space = settings.serve.space,
        width_m = config.world_width,
        height_m = config.world_height,
        tick_rate_hz = config.tick_rate_hz,
        interest_radius_m = config.interest_radius,
        "zone ready"
    );
    tracing::info!(
        game = %game_address,
        transport = settings.serve.transport.label(),
        "game port listening (QUIC: ALPN meridian/1 for clients, h3 for browsers)"
    );
    let http = format!("http://{http_address}");
    match http_server.metrics_address() {
        None => tracing::info!(%http, "HTTP listening (GET /health, GET /metrics)"),
        Some(metrics) => tracing::info!(
            %http,
            metrics = %format_args!("http://{metrics}/metrics"),
            "HTTP listening (GET /health; metrics on their own address)"
        ),
    }
    tracing::info!(
        url = %format_args!("{http}/"),
        "play: open the URL in Chromium (a second tab is a second person)"
    );
    tracing::info!(
        database = %without_password(&settings.serve.database_url),
        space_id = listening.space_id,
        checkpoint_interval_ms = settings.serve.checkpoint_interval_ms,
        "data"
    );
    if settings.serve.dev_tokens {
        tracing::warn!(
            endpoint = %format_args!("POST {http}/api/v1/dev/join"),
            "development tokens are on (--dev): each call makes a fresh guest; never expose this server"
        );
    }
    tracing::info!(
        sha256 = %certificate.sha256_hex(),
        valid_days = settings.serve.certificate_validity().as_secs() / 86_400,
        "development certificate (rotated at half life)"
    );
    tracing::info!(%http, "ready; stop with Ctrl-C or SIGTERM");
}

/// A database URL as it may be logged: `scheme://user@host/...`, the password
/// (if any) left out.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_logged_database_url_has_no_password() {
        assert_eq!(
            without_password("postgres://meridian:secret@db:5432/world"),
            "postgres://meridian:***@db:5432/world"
        );
        assert_eq!(
            without_password("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(
            without_password("sqlite://meridian-data/meridian.db"),
            "sqlite://meridian-data/meridian.db"
        );
    }
}
