//! Tests of `meridian serve` settings: defaults, files, flags and every check.

use super::*;

fn settings() -> ServeSettings {
    ServeSettings {
        serve: ServeTable::default(),
        sim: SimConfig::default(),
        netcode: NetcodeConfig::default(),
        voice: crate::serve::voice::VoiceTable::default(),
    }
}

#[test]
fn the_spawn_policy_is_the_plaza_unless_uniform_is_asked_for() {
    let sim = SimConfig::default();
    let (centre, radius) = SpawnPolicy::default()
        .area(&sim)
        .expect("the plaza has an area");
    assert_eq!(
        (centre.x, centre.y, radius),
        (sim.world_width / 2.0, sim.world_height / 2.0, SPAWN_RADIUS)
    );
    assert_eq!(SpawnPolicy::Uniform.area(&sim), None);
    let table: ServeTable = toml::from_str("spawn = \"uniform\"").expect("parses");
    assert_eq!(table.spawn, SpawnPolicy::Uniform);
    let table: ServeTable = toml::from_str("spawn = \"plaza\"").expect("parses");
    assert_eq!(table.spawn, SpawnPolicy::Plaza);
    assert!(toml::from_str::<ServeTable>("spawn = \"everywhere\"").is_err());
}

#[test]
fn defaults_are_valid() {
    settings().validate().expect("defaults validate");
    assert!(
        !settings().serve.dev_tokens,
        "development tokens are off by default"
    );
}

#[test]
fn bad_values_are_refused_with_a_message_that_names_them() {
    let mut bad = settings();
    bad.serve.certificate_validity_days = 30;
    let message = bad.validate().unwrap_err().to_string();
    assert!(message.contains("certificate_validity_days"), "{message}");

    let mut bad = settings();
    bad.serve.login_attempts_per_address_per_minute = 0;
    let message = bad.validate().unwrap_err().to_string();
    assert!(message.contains("login_attempts_per_address"), "{message}");
    let mut bad = settings();
    bad.serve.joins_per_account_per_minute = 0;
    let message = bad.validate().unwrap_err().to_string();
    assert!(
        message.contains("joins_per_account_per_minute"),
        "{message}"
    );
    let mut bad = settings();
    bad.serve.refresh_token_seconds = 60;
    let message = bad.validate().unwrap_err().to_string();
    assert!(message.contains("refresh_token_seconds"), "{message}");

    let mut bad = settings();
    bad.serve.token_secret = Some("short".into());
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("at least 32 bytes")
    );

    let mut bad = settings();
    bad.serve.shard_id = Some(2);
    bad.serve.shards = 3;
    let message = bad.validate().unwrap_err().to_string();
    assert!(message.contains("--redis-url"), "{message}");
    bad.serve.redis_url = Some("redis://127.0.0.1/".into());
    bad.serve.token_secret = Some("x".repeat(32));
    let message = bad.validate().unwrap_err().to_string();
    assert!(message.contains("PostgreSQL"), "{message}");
    bad.serve.database_url = "postgres://127.0.0.1/test".into();
    bad.validate().expect("a complete shard validates");
    bad.serve.dev_tokens = true;
    let message = bad.validate().unwrap_err().to_string();
    assert!(message.contains("cluster mode"), "{message}");
    bad.serve.dev_tokens = false;
    bad.serve.shard_id = Some(4);
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("--shard-id")
    );

    let mut bad = settings();
    bad.netcode.max_clients = 0;
    let message = format!("{:#}", bad.validate().unwrap_err());
    assert!(
        message.contains("[netcode]") && message.contains("max_clients"),
        "{message}"
    );

    let mut bad = settings();
    bad.sim.tick_rate_hz = 0;
    let message = format!("{:#}", bad.validate().unwrap_err());
    assert!(
        message.contains("[sim]") && message.contains("tick_rate_hz"),
        "{message}"
    );
}

#[test]
fn http_limits_are_checked() {
    let mut bad = settings();
    bad.serve.http_header_timeout_ms = 0;
    let message = bad.validate().unwrap_err().to_string();
    assert!(message.contains("http_header_timeout_ms"), "{message}");

    let mut bad = settings();
    bad.serve.http_max_connections = 0;
    let message = bad.validate().unwrap_err().to_string();
    assert!(message.contains("http_max_connections"), "{message}");

    let mut bad = settings();
    bad.serve.http_max_connections_per_address = 0;
    let message = bad.validate().unwrap_err().to_string();
    assert!(
        message.contains("http_max_connections_per_address"),
        "{message}"
    );

    let mut bad = settings();
    bad.serve.cors_allowed_origins = vec!["https://play.example/path".into()];
    let message = bad.validate().unwrap_err().to_string();
    assert!(message.contains("cors_allowed_origins"), "{message}");
    bad.serve.cors_allowed_origins = vec!["*".into()];
    assert!(bad.validate().is_err());
    bad.serve.cors_allowed_origins = vec![
        "https://play.example".into(),
        "http://127.0.0.1:3000".into(),
    ];
    bad.validate().expect("plain origins validate");

    let mut bad = settings();
    bad.serve.metrics_address = Some(bad.serve.http_address);
    let message = bad.validate().unwrap_err().to_string();
    assert!(message.contains("metrics address"), "{message}");
}

#[test]
fn quotas_are_validated() {
    for zero in [
        |bad: &mut ServeSettings| bad.serve.max_spaces_per_user = 0,
        |bad: &mut ServeSettings| bad.serve.max_elements_per_space = 0,
    ] {
        let mut bad = settings();
        zero(&mut bad);
        let message = bad.validate().unwrap_err().to_string();
        assert!(message.contains("max_"), "{message}");
    }
}

#[test]
fn the_file_takes_serve_and_netcode_tables() {
    let file: FileConfig = toml::from_str(
        "[serve]\ngame_address = \"127.0.0.1:5000\"\n[netcode]\nidle_timeout_ms = 20000\n",
    )
    .expect("parses");
    assert_eq!(file.serve.game_address.port(), 5000);
    assert_eq!(file.netcode.idle_timeout_ms, 20_000);
    let unknown = toml::from_str::<FileConfig>("[serve]\nport = 1\n").unwrap_err();
    assert!(unknown.to_string().contains("port"), "{unknown}");
}

#[test]
fn voice_is_on_by_default_and_its_settings_are_checked() {
    let mut settings = settings();
    assert!(settings.voice.enabled);
    assert_eq!(settings.voice.radius, 15.0);
    assert!(settings.validate().is_ok());
    settings.voice.loudest = 0;
    assert!(settings.validate().is_err());
    settings.voice.loudest = 8;
    settings.voice.radius = f32::NAN;
    assert!(settings.validate().is_err());
    settings.voice.radius = 15.0;
    settings.voice.address = "0.0.0.0:0".parse().unwrap();
    assert!(settings.validate().is_err());
    settings.voice.enabled = false;
    assert!(settings.validate().is_ok());
}
