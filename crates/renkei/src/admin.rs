//! `renkei admin …`: bootstrap and rescue tasks run on the server host.

use crate::config::{self, DbArgs};
use anyhow::Context;
use clap::Subcommand;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::{ids, now_millis, text, FacilityStatus, Lang, Profession};
use renkei_storage::{Facility, FacilityQuery, NewUser, Store, UserQuery};
use renkei_web::pages::clients;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a network secretariat administrator and print their one-time setup link.
    CreateSecretariat {
        #[arg(long)]
        login_id: String,
        #[arg(long)]
        name: String,
        /// Reading of the name in katakana or hiragana.
        #[arg(long, default_value = "")]
        kana: String,
        #[arg(long)]
        email: String,
    },
    /// Wipe a user's password and second factor and print a new setup link.
    Reset {
        #[arg(long)]
        login_id: String,
    },
    /// List users (login ID, name, profession, state).
    ListUsers {
        /// Only users whose name, reading, login ID or e-mail contains this text.
        #[arg(long)]
        search: Option<String>,
    },
    /// Issue OAuth2 client credentials for a facility's system (EHR, pharmacy system, …);
    /// prints the client ID and the secret, once.
    CreateApiClient {
        /// Facility code (F00042) or facility ID; the facility must be active.
        #[arg(long)]
        facility: String,
        /// Name of the system, shown on the facility's API client page.
        #[arg(long)]
        name: String,
        /// Space-separated SMART scopes, e.g. "system/*.cruds" or "system/Observation.rs".
        #[arg(long)]
        scopes: String,
        /// Print one JSON object (client_id, client_secret, facility, scopes, token_url).
        #[arg(long)]
        json: bool,
    },
    /// Create or update Tele-ICU units and beds from a TOML file (see docs/icu-connection.md).
    IcuImport {
        /// The TOML file with `[[unit]]` tables.
        #[arg(long)]
        file: std::path::PathBuf,
        /// Only report what would change.
        #[arg(long)]
        dry_run: bool,
    },
}

/// A facility by code (`F00042`, any case) or by ID.
pub(crate) async fn find_facility(store: &dyn Store, wanted: &str) -> anyhow::Result<Facility> {
    let wanted = wanted.trim();
    if let Some(f) = store.get_facility(wanted).await? {
        return Ok(f);
    }
    let code = wanted.to_uppercase();
    store
        .search_facilities(&FacilityQuery {
            text: Some(code.clone()),
            status: None,
            limit: 20,
            ..Default::default()
        })
        .await?
        .items
        .into_iter()
        .find(|f| f.code.as_deref() == Some(code.as_str()))
        .with_context(|| format!("--facility: no facility with code or ID {wanted}"))
}

fn cli_audit(action: &str) -> AuditEntry {
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    AuditEntry::new(action, Outcome::Success)
        .actor(None, Some(&format!("cli:{who}")), None)
        .detail(serde_json::json!({ "via": "renkei admin" }))
}

pub async fn run(db: DbArgs, command: AdminCommand) -> anyhow::Result<ExitCode> {
    let settings = config::load(db.config.as_ref(), &db)?;
    let store = config::open_store(&settings).await?;
    let web = settings.web_config();
    let ttl = web.setup_link_ttl.as_millis() as i64;
    match command {
        AdminCommand::IcuImport { file, dry_run } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let parsed = crate::icu_config::parse(&text)
                .with_context(|| format!("in {}", file.display()))?;
            let s = crate::icu_config::import(store.as_ref(), &parsed, dry_run, cli_audit).await?;
            println!(
                "{}units: {} created, {} updated; beds: {} created, {} updated, {} taken out of service",
                if dry_run { "(dry run) " } else { "" },
                s.units_created,
                s.units_updated,
                s.beds_created,
                s.beds_updated,
                s.beds_retired
            );
        }
        AdminCommand::CreateSecretariat {
            login_id,
            name,
            kana,
            email,
        } => {
            let login_id = text::login_id("login_id", &login_id).map_err(|e| {
                anyhow::anyhow!("--login-id: {}", e.message(renkei_domain::Lang::En))
            })?;
            let name = text::clean("name", &name, 60, true)
                .map_err(|e| anyhow::anyhow!("--name: {}", e.message(renkei_domain::Lang::En)))?;
            let kana = text::kana("kana", &kana, 120, false)
                .map_err(|e| anyhow::anyhow!("--kana: {}", e.message(renkei_domain::Lang::En)))?;
            let email = text::email("email", &email, true)
                .map_err(|e| anyhow::anyhow!("--email: {}", e.message(renkei_domain::Lang::En)))?;
            let token = ids::new_token();
            let now = now_millis();
            let user = NewUser {
                id: ids::new_id(),
                login_id: login_id.clone(),
                display_name: name,
                display_name_kana: kana,
                email,
                profession: Profession::Clerk,
                is_secretariat: true,
                password_hash: None,
                totp_secret: None,
                recovery_code_hashes: vec![],
                setup_token_hash: Some(ids::token_hash(&token)),
                setup_expires_at: Some(now + ttl),
                memberships: vec![],
                created_at: now,
            };
            let audit = cli_audit("user.create_secretariat").target("user", &user.id);
            store
                .create_user(user, audit)
                .await
                .with_context(|| format!("creating {login_id}"))?;
            println!("Created secretariat administrator {login_id}.");
            println!(
                "One-time setup link (valid {} days): {}/setup/{token}",
                ttl / 86_400_000,
                web.public_url.trim_end_matches('/')
            );
        }
        AdminCommand::Reset { login_id } => {
            let user = store
                .get_user_by_login(&login_id.to_lowercase())
                .await?
                .with_context(|| format!("no user with login ID {login_id}"))?;
            let token = ids::new_token();
            store
                .reset_credentials(
                    &user.id,
                    &ids::token_hash(&token),
                    now_millis() + ttl,
                    cli_audit("user.reset_credentials").target("user", &user.id),
                )
                .await?;
            println!("Reset {login_id}: password, authenticator and sessions cleared.");
            println!(
                "One-time setup link: {}/setup/{token}",
                web.public_url.trim_end_matches('/')
            );
        }
        AdminCommand::ListUsers { search } => {
            let mut offset = 0;
            println!(
                "{:<24} {:<20} {:<28} state",
                "login_id", "name", "profession"
            );
            loop {
                let page = store
                    .list_users(&UserQuery {
                        text: search.clone(),
                        facility_id: None,
                        limit: 500,
                        offset,
                    })
                    .await?;
                for u in &page.items {
                    let state = if !u.active {
                        "deactivated"
                    } else if !u.is_enrolled() {
                        "awaiting setup"
                    } else if u.is_secretariat {
                        "active (secretariat)"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<24} {:<20} {:<28} {state}",
                        u.login_id,
                        u.display_name,
                        u.profession.label(renkei_domain::Lang::Ja)
                    );
                }
                offset += page.items.len() as i64;
                if page.items.is_empty() || offset >= page.total {
                    println!("({} users)", page.total);
                    break;
                }
            }
        }
        AdminCommand::CreateApiClient {
            facility,
            name,
            scopes,
            json,
        } => {
            let facility = find_facility(store.as_ref(), &facility).await?;
            anyhow::ensure!(
                facility.status == FacilityStatus::Active,
                "--facility: {} is not an active member of the network ({})",
                facility.code.as_deref().unwrap_or(&facility.id),
                facility.status.code()
            );
            let name = text::clean("client_name", &name, clients::MAX_NAME, true)
                .map_err(|e| anyhow::anyhow!("--name: {}", e.message(Lang::En)))?;
            let typed = text::clean("scopes", &scopes, clients::MAX_SCOPE_TEXT, false)
                .map_err(|e| anyhow::anyhow!("--scopes: {}", e.message(Lang::En)))?;
            let tr = renkei_web::i18n::Tr(Lang::En);
            let parsed = renkei_web::oauth::parse_scopes(&typed)
                .ok_or_else(|| anyhow::anyhow!("--scopes: {}", tr.t("clients.bad_scopes")))?;
            let scopes = clients::scopes_to_store(&parsed)
                .map_err(|key| anyhow::anyhow!("--scopes: {}", tr.t(key)))?;
            let audit = cli_audit("api_client.create");
            let created_by = audit.actor_login.clone().unwrap_or_default();
            let (client, secret) = clients::new_client(&facility.id, name, scopes, &created_by);
            store
                .create_api_client(client.clone(), clients::creation_audit(audit, &client))
                .await
                .context("storing the client")?;
            let token_url = format!("{}/oauth/token", web.public_url.trim_end_matches('/'));
            let code = facility.code.clone().unwrap_or_default();
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "client_id": client.id,
                        "client_secret": secret,
                        "facility_id": facility.id,
                        "facility_code": code,
                        "name": client.name,
                        "scopes": client.scopes,
                        "token_url": token_url,
                    })
                );
            } else {
                println!(
                    "Created API client {} for {code} {} with scopes {}.",
                    client.id, facility.name, client.scopes
                );
                println!("client_id:     {}", client.id);
                println!("client_secret: {secret}");
                println!("The secret is shown only now. Token endpoint: {token_url}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
