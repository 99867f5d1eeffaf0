//! Configuration: built-in defaults, then a TOML file, then `RENKEI_*` environment
//! variables, then command-line flags — each later source overriding the earlier.
//! Every key is documented in docs/configuration.md.

use anyhow::Context;
use clap::Args;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Every key of [`Settings`], as accepted from `RENKEI_<KEY>` environment variables.
const SETTING_KEYS: &[&str] = &[
    "http_addr",
    "data_dir",
    "database_url",
    "max_db_connections",
    "tls_cert",
    "tls_key",
    "public_url",
    "network_name",
    "secure_cookies",
    "session_idle_minutes",
    "session_max_hours",
    "max_login_failures",
    "lockout_minutes",
    "login_attempts_per_minute",
    "api_token_cache_seconds",
    "setup_link_days",
    "trust_forwarded_for",
    "max_body_bytes",
    "log_format",
    "mllp_addr",
    "mllp_senders",
    "mllp_tls_cert",
    "mllp_tls_key",
    "mllp_tls_client_ca",
    "icu_items_file",
    "icu_code_map_file",
    "icu_raw_retention_days",
    "icu_alert_rules_file",
    "document_font_file",
    "smtp_url",
    "smtp_from",
];

/// The MLLP listener's address unless configured (the HL7 port, loopback only).
pub const DEFAULT_MLLP_ADDR: &str = "127.0.0.1:2575";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http_addr: String,
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; empty means SQLite in `data_dir`.
    pub database_url: String,
    pub max_db_connections: u32,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub public_url: String,
    pub network_name: String,
    pub secure_cookies: Option<bool>,
    pub session_idle_minutes: u64,
    pub session_max_hours: u64,
    pub max_login_failures: i64,
    pub lockout_minutes: u64,
    pub login_attempts_per_minute: u32,
    pub api_token_cache_seconds: u64,
    pub setup_link_days: u64,
    pub trust_forwarded_for: bool,
    pub max_body_bytes: usize,
    /// `text` or `json`.
    pub log_format: String,
    /// `host:port` of the HL7 v2 MLLP listener; `off` (or empty): no listener.
    pub mllp_addr: String,
    /// Who may push over MLLP: `FACILITY=IP` entries, comma-separated. Empty: loopback
    /// peers only, for any facility (development and demo).
    pub mllp_senders: String,
    /// PEM certificate chain; with `mllp_tls_key`, the MLLP listener speaks TLS only.
    pub mllp_tls_cert: Option<PathBuf>,
    /// PEM private key for `mllp_tls_cert`.
    pub mllp_tls_key: Option<PathBuf>,
    /// PEM CA certificates; when set, every MLLP client must present a certificate they
    /// signed (mutual TLS).
    pub mllp_tls_client_ca: Option<PathBuf>,
    /// A TOML file of `[[item]]` tables: Tele-ICU data items beyond the built-in ones.
    pub icu_items_file: Option<PathBuf>,
    /// A CSV code-mapping table for monitor messages that extends and overrides the
    /// built-in one (`source,code,item,unit,factor,offset`); empty: built-in table only.
    pub icu_code_map_file: Option<PathBuf>,
    /// Days raw Tele-ICU values are kept before only hourly summaries remain.
    pub icu_raw_retention_days: u64,
    /// A TOML file of `[[rule]]` changes to the Tele-ICU alert rules; empty: the defaults.
    pub icu_alert_rules_file: Option<PathBuf>,
    /// The Japanese font (TTF, OTF or TTC) embedded in document PDFs; empty: the first
    /// installed of Noto Sans CJK, Noto Serif CJK, IPAex Gothic.
    pub document_font_file: Option<PathBuf>,
    /// SMTP server for notification e-mail (a link to the inbox only):
    /// `smtps://user:pass@host:465`, `smtp://host:587?tls=required`; empty: no e-mail.
    pub smtp_url: String,
    /// Sender address of notification e-mail (`Renkei <noreply@example.jp>`).
    pub smtp_from: String,
}

impl Default for Settings {
    fn default() -> Self {
        let web = renkei_web::WebConfig::default();
        Settings {
            http_addr: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./renkei-data"),
            database_url: String::new(),
            max_db_connections: 16,
            tls_cert: None,
            tls_key: None,
            public_url: String::new(),
            network_name: "Renkei 地域医療介護連携ネットワーク".into(),
            secure_cookies: None,
            session_idle_minutes: web.session_idle.as_secs() / 60,
            session_max_hours: web.session_max.as_secs() / 3600,
            max_login_failures: web.max_login_failures,
            lockout_minutes: web.lockout.as_secs() / 60,
            login_attempts_per_minute: web.login_attempts_per_minute,
            api_token_cache_seconds: web.api_token_cache.as_secs(),
            setup_link_days: web.setup_link_ttl.as_secs() / 86_400,
            trust_forwarded_for: false,
            max_body_bytes: web.max_body_bytes,
            log_format: "text".into(),
            mllp_addr: DEFAULT_MLLP_ADDR.into(),
            mllp_senders: String::new(),
            mllp_tls_cert: None,
            mllp_tls_key: None,
            mllp_tls_client_ca: None,
            icu_items_file: None,
            icu_code_map_file: None,
            icu_raw_retention_days: 30,
            icu_alert_rules_file: None,
            document_font_file: None,
            smtp_url: String::new(),
            smtp_from: String::new(),
        }
    }
}

/// Where the database is; shared by every subcommand.
#[derive(Debug, Clone, Args, Serialize)]
pub struct DbArgs {
    /// Configuration file (TOML). Default: ./renkei.toml when it exists.
    #[arg(long, env = "RENKEI_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Directory for the embedded SQLite database (default ./renkei-data).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://user:pass@host/db`; overrides --data-dir.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Args, Serialize)]
pub struct ServeArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub db: DbArgs,
    /// Address for HTTP(S) (default 127.0.0.1:8080).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<String>,
    /// PEM certificate chain; with --tls-key, serve HTTPS.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Public base URL used in setup links (default derived from --http-addr).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Log format: text or json.
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    /// Address of the HL7 v2 MLLP listener (default 127.0.0.1:2575; `off`: no listener).
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mllp_addr: Option<String>,
    /// Start with the synthetic demo network (demo logins and second-factor helper).
    #[arg(long)]
    #[serde(skip)]
    pub demo: bool,
}

pub fn load<T: Serialize>(config_file: Option<&PathBuf>, flags: &T) -> anyhow::Result<Settings> {
    let mut fig = Figment::from(Serialized::defaults(Settings::default()));
    match config_file {
        Some(path) => {
            anyhow::ensure!(
                path.exists(),
                "configuration file {} does not exist",
                path.display()
            );
            fig = fig.merge(Toml::file(path));
        }
        None => fig = fig.merge(Toml::file("renkei.toml")),
    }
    fig = fig
        // Only configuration keys: other RENKEI_* variables (test harness, scripts) are not
        // settings, and unknown keys in the file stay errors.
        .merge(Env::prefixed("RENKEI_").only(SETTING_KEYS))
        .merge(Serialized::defaults(flags));
    fig.extract()
        .context("reading configuration (defaults, renkei.toml, RENKEI_* environment, flags)")
}

impl Settings {
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("renkei.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// Where the MLLP listener binds; `None` when switched off.
    pub fn mllp_listen_addr(&self) -> Option<&str> {
        let addr = self.mllp_addr.trim();
        (!addr.is_empty() && !addr.eq_ignore_ascii_case("off")).then_some(addr)
    }

    /// The MLLP listener's TLS acceptor, when `mllp_tls_cert` and `mllp_tls_key` are set.
    pub fn mllp_tls(&self) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
        match (&self.mllp_tls_cert, &self.mllp_tls_key) {
            (Some(cert), Some(key)) => Ok(Some(crate::mllp_tls::acceptor(
                cert,
                key,
                self.mllp_tls_client_ca.as_deref(),
            )?)),
            (None, None) => {
                anyhow::ensure!(
                    self.mllp_tls_client_ca.is_none(),
                    "mllp_tls_client_ca needs mllp_tls_cert and mllp_tls_key"
                );
                Ok(None)
            }
            _ => anyhow::bail!("mllp_tls_cert and mllp_tls_key go together: set both or neither"),
        }
    }

    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    pub fn web_config(&self) -> renkei_web::WebConfig {
        use std::time::Duration;
        let scheme = if self.tls_enabled() { "https" } else { "http" };
        renkei_web::WebConfig {
            network_name: self.network_name.clone(),
            demo: None,
            secure_cookies: self.secure_cookies.unwrap_or(self.tls_enabled()),
            session_idle: Duration::from_secs(self.session_idle_minutes * 60),
            session_max: Duration::from_secs(self.session_max_hours * 3600),
            max_login_failures: self.max_login_failures,
            lockout: Duration::from_secs(self.lockout_minutes * 60),
            login_attempts_per_minute: self.login_attempts_per_minute,
            api_token_cache: Duration::from_secs(self.api_token_cache_seconds),
            setup_link_ttl: Duration::from_secs(self.setup_link_days * 86_400),
            public_url: if self.public_url.is_empty() {
                format!("{scheme}://{}", self.http_addr)
            } else {
                self.public_url.clone()
            },
            trust_forwarded_for: self.trust_forwarded_for,
            max_body_bytes: self.max_body_bytes,
            mailer: None,
            icu_alert_rules: std::sync::Arc::new(renkei_core::icu::default_rules()),
            document_font_file: self.document_font_file.clone(),
        }
    }

    /// The notification mailer when `smtp_url` is set. E-mail links must reach users from
    /// outside the server, so `public_url` and `smtp_from` are then required.
    pub fn mailer(&self) -> anyhow::Result<Option<std::sync::Arc<dyn renkei_web::mail::Mailer>>> {
        if self.smtp_url.is_empty() {
            return Ok(None);
        }
        anyhow::ensure!(
            !self.public_url.is_empty(),
            "smtp_url is set: public_url must be set too (e-mails link to it)"
        );
        anyhow::ensure!(
            !self.smtp_from.is_empty(),
            "smtp_url is set: smtp_from must be set too"
        );
        let mailer = renkei_web::mail::SmtpMailer::new(&self.smtp_url, &self.smtp_from)
            .map_err(|e| anyhow::anyhow!("{}: {e}", redact(&self.smtp_url)))?;
        Ok(Some(std::sync::Arc::new(mailer)))
    }
}

pub async fn open_store(
    settings: &Settings,
) -> anyhow::Result<std::sync::Arc<dyn renkei_storage::Store>> {
    let url = settings.database_url();
    renkei_storage_sql::connect(&url, settings.max_db_connections)
        .await
        .with_context(|| format!("opening database {}", redact(&url)))
}

/// Hides a password in a database URL before it is printed.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    /// The environment key list names every setting (and nothing else).
    #[test]
    fn setting_keys_match_the_struct() {
        let json = serde_json::to_value(super::Settings::default()).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut keys = super::SETTING_KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://renkei:s3cret@db/renkei"),
            "postgres://renkei:***@db/renkei"
        );
        assert_eq!(
            super::redact("sqlite://./renkei-data/renkei.db"),
            "sqlite://./renkei-data/renkei.db"
        );
    }
}
