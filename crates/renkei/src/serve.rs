//! `renkei serve` / `renkei demo`.

use crate::config::{self, ServeArgs};
use anyhow::Context;
use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_storage::Store;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The published demo credentials. They only work in a database created by demo mode,
/// and a server refuses to start without `--demo` on such a database.
pub const DEMO_PASSWORD: &str = "renkei-demo-2026";
pub const DEMO_TOTP_SECRET: &str = "RENKEIDEMORENKEIDEMORENKEIDEMO22";
const DEMO_MARKER: &str = "demo_network";
/// The seed of the demo network and its clinical data.
const DEMO_SEED: u64 = 2026;

pub fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub async fn run(args: ServeArgs, demo_command: bool) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let demo = demo_command || args.demo;
    let settings = config::load(args.db.config.as_ref(), &args)?;
    init_logging(&settings.log_format);
    let store = config::open_store(&settings).await?;

    let is_demo_db = store.get_setting(DEMO_MARKER).await?.as_deref() == Some("true");
    if demo {
        if !is_demo_db {
            anyhow::ensure!(
                store.count_users().await? == 0,
                "--demo needs an empty database or one made by demo mode; {} holds a real network",
                config::redact(&settings.database_url())
            );
            seed_demo(store.as_ref()).await?;
        }
    } else if is_demo_db {
        anyhow::bail!(
            "{} holds the demo network (published demo passwords); start it with --demo, or choose another --data-dir / --database-url",
            config::redact(&settings.database_url())
        );
    }

    // Match keys stored by an earlier version of the blocking rules are recomputed once.
    let refreshed = renkei_core::patients::refresh_block_keys(store.as_ref())
        .await
        .context("recomputing patient match keys")?;
    if refreshed > 0 {
        tracing::info!(
            records = refreshed,
            "patient match keys recomputed for the current blocking rules"
        );
    }

    let addr: SocketAddr = settings
        .http_addr
        .parse()
        .with_context(|| format!("--http-addr {} is not host:port", settings.http_addr))?;
    let listener = std::net::TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let scheme = if settings.tls_enabled() {
        "https"
    } else {
        "http"
    };
    let mut web = settings.web_config();
    web.mailer = settings.mailer()?;
    // Site data items first: the alert rules and code tables refer to them.
    if let Some(path) = &settings.icu_items_file {
        let catalogue = crate::mllp_icu::load_items(path)?;
        if renkei_icu::Catalogue::install_site(catalogue).is_err() {
            tracing::warn!("the ICU item catalogue was in use before icu_items_file was read");
        }
    }
    // The same alert rules for monitor data (MLLP) and values entered on the bed page.
    let rules = match &settings.icu_alert_rules_file {
        Some(path) => crate::mllp_icu::load_alert_rules(path)?,
        None => renkei_core::icu::default_rules(),
    };
    web.icu_alert_rules = std::sync::Arc::new(rules.clone());
    if settings.public_url.is_empty() {
        // Links must name the port actually bound (e.g. with --http-addr 127.0.0.1:0).
        web.public_url = format!("{scheme}://{local}");
    }
    if demo {
        web.demo = Some(renkei_web::DemoHelper {
            totp_secret: DEMO_TOTP_SECRET.into(),
            password: DEMO_PASSWORD.into(),
        });
    }
    let app = renkei_web::app(store.clone(), web.clone());

    spawn_session_purger(store.clone(), web.session_idle);
    renkei_core::icu::spawn_maintenance(
        store.clone(),
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(settings.icu_raw_retention_days.max(1) * 86_400),
    );
    if demo {
        print_demo_help(&format!("{scheme}://{local}"));
    }
    // Demo mode shows a live Tele-ICU centre: a monitor simulator feeds the MLLP listener
    // (on a free loopback port unless one is configured).
    let demo_icu = if demo {
        Some(
            crate::demo_icu::seed(store.as_ref())
                .await
                .context("seeding the demo Tele-ICU")?,
        )
    } else {
        None
    };
    if let Some(mllp_addr) = settings.mllp_listen_addr() {
        let senders = crate::mllp::Senders::parse(&settings.mllp_senders)?;
        let tls = settings.mllp_tls()?;
        let mllp = bind_mllp(mllp_addr, demo).await?;
        match demo_icu {
            // The in-process simulator speaks plain MLLP.
            Some(_) if tls.is_some() => {
                eprintln!("note: MLLP TLS is on, so the demo monitor simulator is not started")
            }
            Some(config) => crate::demo_icu::spawn_simulator(config, mllp.local_addr()?),
            None => {}
        }
        // Tests and scripts read the bound port from this line.
        println!("renkei mllp on {}", mllp.local_addr()?);
        let site_table = match &settings.icu_code_map_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading icu_code_map_file {}", path.display()))?,
            ),
            None => None,
        };
        let icu = crate::mllp_icu::IcuRouter::new(store.clone(), site_table.as_deref(), rules)?;
        tokio::spawn(crate::mllp::serve(
            mllp,
            store.clone(),
            senders,
            Some(Arc::new(icu)),
            tls,
            shutdown_signal(),
        ));
    }
    // Scripts and benchmarks wait for this exact line.
    println!(
        "renkei ready on {scheme}://{local} ({} backend) in {} ms",
        store.backend_name(),
        started.elapsed().as_millis()
    );
    tracing::info!(%local, backend = store.backend_name(), demo, "listening");

    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    if let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key) {
        // rustls needs exactly one crypto provider; install ring explicitly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
            .await
            .with_context(|| {
                format!(
                    "loading TLS certificate {} and key {}",
                    cert.display(),
                    key.display()
                )
            })?;
        let handle = axum_server::Handle::new();
        let shutdown_handle = handle.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            shutdown_handle.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        axum_server::from_tcp_rustls(listener, tls)
            .handle(handle)
            .serve(service)
            .await
            .context("HTTPS server")?;
    } else {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, service)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("HTTP server")?;
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn seed_demo(store: &dyn Store) -> anyhow::Result<()> {
    let started = Instant::now();
    let hash =
        tokio::task::spawn_blocking(|| renkei_domain::password::hash_password(DEMO_PASSWORD))
            .await?;
    let mut network = renkei_demo::generate(&renkei_demo::DemoOptions {
        seed: DEMO_SEED,
        password_hash: hash,
        totp_secret: DEMO_TOTP_SECRET.into(),
    });
    // The clinical data is generated while the network is being stored.
    let copy = network.clone();
    let demo_notices = renkei_demo::notices::generate(&network, renkei_domain::now_millis());
    let demo_cover = renkei_demo::cover::generate(&network, renkei_domain::now_millis());
    let clinical =
        tokio::task::spawn_blocking(move || renkei_demo::clinical::generate(&copy, DEMO_SEED));
    // Match keys are computed here, by the same code as live registrations, so new
    // registrations in the demo link to the demo's patients.
    for (record, _) in &mut network.import.patients.records {
        record.block_keys = renkei_core::patients::block_keys_of(record);
    }
    let facilities = network.import.facilities.len();
    let users = network.import.users.len();
    let patients = network.import.patients.persons.len();
    let audit = AuditEntry::new("demo.seed", Outcome::Success).detail(
        serde_json::json!({ "facilities": facilities, "users": users, "patients": patients }),
    );
    store
        .import_network(network.import, audit)
        .await
        .context("loading the demo network")?;
    // The demo's keys were computed above by the current rules.
    renkei_core::patients::mark_block_keys_current(store).await?;
    let network_ms = started.elapsed().as_millis() as u64;
    let clinical = clinical
        .await
        .context("generating the demo's clinical data")?;
    let resources = seed_clinical(store, clinical).await?;
    seed_notices(store, &demo_notices)
        .await
        .context("loading the demo's notices and board")?;
    if let Some(cover) = demo_cover {
        seed_cover(store, cover)
            .await
            .context("loading the demo's on-call group")?;
    }
    store.set_setting(DEMO_MARKER, "true").await?;
    tracing::info!(
        facilities,
        users,
        patients,
        resources,
        ms = started.elapsed().as_millis() as u64,
        network_ms,
        "demo network created"
    );
    Ok(())
}

/// The demo's notices and board threads, each stored with its audit record like a person's
/// would be.
async fn seed_notices(
    store: &dyn Store,
    demo: &renkei_demo::notices::DemoNotices,
) -> anyhow::Result<()> {
    let notices = store.notices();
    let audit = |action: &str, kind: &str, id: &str| {
        AuditEntry::new(action, Outcome::Success)
            .target(kind, id)
            .detail(serde_json::json!({ "demo": true }))
    };
    for n in &demo.notices {
        notices
            .publish_notice(n.clone(), audit("notice.publish", "notice", &n.id))
            .await?;
    }
    for (notice, user, at) in &demo.reads {
        notices.mark_notice_read(notice, user, *at).await?;
    }
    for t in &demo.topics {
        notices
            .create_board_topic(t.clone(), audit("board.topic.create", "board_topic", &t.id))
            .await?;
    }
    for (thread, posts) in &demo.threads {
        let Some((opening, replies)) = posts.split_first() else {
            continue;
        };
        let mut first = thread.clone();
        first.last_activity_at = opening.created_at;
        notices
            .open_board_thread(
                first,
                opening.clone(),
                audit("board.thread.open", "board_thread", &thread.id),
            )
            .await?;
        for p in replies {
            notices
                .add_board_reply(p.clone(), audit("board.post.reply", "board_post", &p.id))
                .await?;
        }
    }
    // Topics the secretariat closed, once their threads are in.
    for t in &demo.topics {
        if let (Some(at), Some(by)) = (t.archived_at, t.archived_by.as_deref()) {
            notices
                .set_board_topic_archived(
                    &t.id,
                    true,
                    by,
                    at,
                    audit("board.topic.archive", "board_topic", &t.id),
                )
                .await?;
        }
    }
    Ok(())
}

/// The demo's on-call group, built step by step through the store as its members would
/// (each change with its audit record and notifications).
async fn seed_cover(store: &dyn Store, demo: renkei_demo::cover::DemoCover) -> anyhow::Result<()> {
    let cover = store.cover();
    let group_id = demo.group.id.clone();
    let audit = |action: &str, user: &str, detail: serde_json::Value| {
        let mut entry = AuditEntry::new(action, Outcome::Success)
            .target("cover_group", &group_id)
            .detail(detail);
        entry.actor_user_id = Some(user.to_string());
        entry
    };
    let demo_flag = serde_json::json!({ "demo": true });
    cover
        .create_cover_group(
            demo.group.clone(),
            audit(
                "cover.group_create",
                &demo.group.created_by,
                demo_flag.clone(),
            ),
        )
        .await?;
    for (facility, by, invited_at, accepted_at) in &demo.members {
        let detail = serde_json::json!({ "demo": true, "facility": facility });
        cover
            .invite_to_cover_group(
                &group_id,
                facility,
                by,
                *invited_at,
                audit("cover.invite", by, detail),
                vec![],
            )
            .await?;
        cover
            .answer_cover_invitation(
                &group_id,
                facility,
                true,
                *accepted_at,
                AuditEntry::new("cover.accept", Outcome::Success)
                    .target("cover_group", &group_id)
                    .detail(demo_flag.clone()),
            )
            .await?;
    }
    for (facility, choice, at, by) in demo.choices {
        let detail = serde_json::json!({ "demo": true, "all": choice.covers_all, "persons": choice.person_ids });
        cover
            .set_covered_choice(
                &group_id,
                &facility,
                choice,
                at,
                audit("cover.patients_set", &by, detail),
            )
            .await?;
    }
    for (shift, notifications) in demo.shifts {
        let detail =
            serde_json::json!({ "demo": true, "shift": shift.id, "facility": shift.facility_id });
        let by = shift.created_by.clone();
        cover
            .add_cover_shift(shift, audit("cover.shift_add", &by, detail), notifications)
            .await?;
    }
    Ok(())
}

/// The demo patients' clinical data, written by the facilities of their care teams through
/// the clinical write path (`renkei_core::clinical::import`: validation, the contribution
/// rule, one Provenance and one audit record per author and patient) in one transaction —
/// a transaction per batch would add seconds to every demo start.
async fn seed_clinical(
    store: &dyn Store,
    clinical: Vec<renkei_demo::clinical::ClinicalBatch>,
) -> anyhow::Result<usize> {
    use renkei_core::clinical::{Author, ImportBatch, WriteError};
    let batches = clinical
        .into_iter()
        .map(|b| ImportBatch {
            author: Author {
                requester: renkei_domain::patient::Requester {
                    user_id: b.user_id,
                    facility_id: Some(b.facility_id.clone()),
                    facility_type: Some(b.facility_type),
                    profession: b.profession,
                    is_secretariat: false,
                },
                login_id: b.login_id,
                facility_id: b.facility_id,
                source_system: "demo".into(),
                ip: None,
                user_agent: None,
            },
            patient: format!("Patient/{}", b.person_id),
            resources: b.resources,
        })
        .collect();
    let now = renkei_domain::now_millis();
    match renkei_core::clinical::import(store, batches, "fhir.create", now).await {
        Ok(n) => Ok(n),
        // The generator's tests validate every resource; say which rule broke if one slips.
        Err(WriteError::Invalid(issues)) => anyhow::bail!(
            "demo clinical data rejected: {}",
            issues
                .iter()
                .map(|i| format!("{}: {}", i.expression, i.en))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        Err(e) => Err(e).context("loading the demo's clinical data"),
    }
}

fn print_demo_help(base: &str) {
    let network = renkei_demo::generate(&renkei_demo::DemoOptions {
        seed: DEMO_SEED,
        password_hash: String::new(),
        totp_secret: String::new(),
    });
    println!(
        "=== DEMO MODE — synthetic data only; demo credentials work only in this demo database ==="
    );
    println!("Open {base}/login  ·  password for every demo account: {DEMO_PASSWORD}");
    println!("Second factor: the sign-in page shows the current code; or add TOTP secret {DEMO_TOTP_SECRET} to an authenticator app.");
    for login in renkei_demo::featured_logins(&network) {
        println!(
            "  {:<18} {} ({}, {})",
            login.login_id,
            login.display_name,
            login.profession.label(renkei_domain::Lang::Ja),
            login.facility_name
        );
    }
}

fn spawn_session_purger(store: Arc<dyn Store>, idle: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let now = renkei_domain::now_millis();
            if let Err(e) = store
                .purge_sessions(now - idle.as_millis() as i64, now)
                .await
            {
                tracing::warn!(error = %e, "purging expired sessions");
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Binds the MLLP listener. Demo mode on the default port, when that is taken (another
/// server on this machine), takes a free port instead so a second demo still starts.
async fn bind_mllp(addr: &str, demo: bool) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => Ok(listener),
        Err(e)
            if demo
                && addr == crate::config::DEFAULT_MLLP_ADDR
                && e.kind() == std::io::ErrorKind::AddrInUse =>
        {
            eprintln!("note: {addr} is in use; the demo's MLLP listener takes a free port");
            tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .context("binding the demo MLLP listener on a free port")
        }
        Err(e) => Err(e).with_context(|| {
            format!("binding the MLLP listener on {addr} (mllp_addr = \"off\" runs without one)")
        }),
    }
}
