//! `renkei admin …`: bootstrap and rescue tasks run on the server host.

use crate::config::{self, DbArgs};
use anyhow::Context;
use clap::Subcommand;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::{ids, now_millis, text, Profession};
use renkei_storage::{NewUser, UserQuery};
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
    }
    Ok(ExitCode::SUCCESS)
}
