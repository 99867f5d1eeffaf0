//! Starts a real Renkei web server on 127.0.0.1:0 over a fresh database and seeds a small
//! network: two hospitals, a pending application, a secretariat user and staff.

#![allow(dead_code)]

use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::{ids, FacilityType, MemberRole, Profession};
use renkei_storage::testsuite::{sample_facility, sample_user};
use renkei_storage::{NewUser, Store};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

pub const PASSWORD: &str = "correct horse 2026";
pub const TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
pub const RECOVERY_CODE: &str = "abcde-fghjk";

pub enum Backend {
    Sqlite,
    Postgres(String),
}

pub struct TestApp {
    pub base: String,
    pub store: Arc<dyn Store>,
    pub facility_id: String,
    pub pending_facility_id: String,
    _dir: Option<std::path::PathBuf>,
}

fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| renkei_domain::password::hash_password(PASSWORD))
        .clone()
}

fn user(
    login: &str,
    name: &str,
    profession: Profession,
    facility: Option<(&str, MemberRole)>,
) -> NewUser {
    NewUser {
        display_name: name.into(),
        display_name_kana: "テスト".into(),
        profession,
        password_hash: Some(password_hash()),
        totp_secret: Some(TOTP_SECRET.into()),
        recovery_code_hashes: vec![renkei_domain::totp::hash_recovery_code(RECOVERY_CODE)],
        ..sample_user(
            login,
            facility
                .map(|(f, r)| vec![(f.to_string(), r)])
                .unwrap_or_default(),
        )
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, renkei_web::WebConfig::default()).await
    }

    pub async fn spawn_with(backend: Backend, config: renkei_web::WebConfig) -> TestApp {
        let (store, dir): (Arc<dyn Store>, _) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("renkei-web-test-{}", ids::new_id()));
                let url = format!("sqlite://{}", dir.join("renkei.db").display());
                (
                    renkei_storage_sql::connect(&url, 4).await.unwrap(),
                    Some(dir),
                )
            }
            Backend::Postgres(url) => (renkei_storage_sql::connect(&url, 8).await.unwrap(), None),
        };
        let audit = || AuditEntry::new("test.seed", Outcome::Success);
        let mut hospital = sample_facility(
            "テスト総合病院",
            "テストソウゴウビョウイン",
            FacilityType::Hospital,
            "0110000001",
        );
        hospital.admin_login_id = "admin1".into();
        let mut other = sample_facility(
            "第二テスト総合病院",
            "ダイニテストソウゴウビョウイン",
            FacilityType::Hospital,
            "0110000002",
        );
        other.admin_login_id = "otheradmin".into();
        let pending = sample_facility(
            "審査中テスト薬局",
            "シンサチュウテストヤッキョク",
            FacilityType::Pharmacy,
            "0140000003",
        );
        let secretariat_office = sample_facility(
            "テスト事務局",
            "テストジムキョク",
            FacilityType::Secretariat,
            "",
        );
        let fire = sample_facility(
            "テスト消防本部",
            "テストショウボウホンブ",
            FacilityType::EmergencyService,
            "",
        );
        let care_office = sample_facility(
            "テスト居宅介護支援事業所",
            "テストキョタクカイゴシエンジギョウショ",
            FacilityType::CareManagementOffice,
            "0170000004",
        );
        let import = renkei_storage::NetworkImport {
            facilities: vec![
                (
                    hospital.clone(),
                    renkei_domain::FacilityStatus::Active,
                    Some("F00001".into()),
                ),
                (
                    other.clone(),
                    renkei_domain::FacilityStatus::Active,
                    Some("F00002".into()),
                ),
                (
                    pending.clone(),
                    renkei_domain::FacilityStatus::Pending,
                    None,
                ),
                (
                    secretariat_office.clone(),
                    renkei_domain::FacilityStatus::Active,
                    Some("F00003".into()),
                ),
                (
                    fire.clone(),
                    renkei_domain::FacilityStatus::Active,
                    Some("F00004".into()),
                ),
                (
                    care_office.clone(),
                    renkei_domain::FacilityStatus::Active,
                    Some("F00005".into()),
                ),
            ],
            users: vec![
                user(
                    "admin1",
                    "テスト 管理者",
                    Profession::Clerk,
                    Some((&hospital.id, MemberRole::FacilityAdmin)),
                ),
                user(
                    "doctor1",
                    "テスト 医師1",
                    Profession::Physician,
                    Some((&hospital.id, MemberRole::Member)),
                ),
                user(
                    "nurse1",
                    "テスト 看護師1",
                    Profession::Nurse,
                    Some((&hospital.id, MemberRole::Member)),
                ),
                user(
                    "otherdoc",
                    "他院 医師",
                    Profession::Physician,
                    Some((&other.id, MemberRole::Member)),
                ),
                user(
                    "paramedic1",
                    "テスト 救急隊員",
                    Profession::Paramedic,
                    Some((&fire.id, MemberRole::Member)),
                ),
                user(
                    "cm1",
                    "テスト ケアマネ",
                    Profession::CareManager,
                    Some((&care_office.id, MemberRole::Member)),
                ),
                NewUser {
                    is_secretariat: true,
                    ..user(
                        "secretariat",
                        "テスト 事務局",
                        Profession::Clerk,
                        Some((&secretariat_office.id, MemberRole::FacilityAdmin)),
                    )
                },
            ],
            readiness: vec![],
            patients: Default::default(),
        };
        store.import_network(import, audit()).await.unwrap();

        let config = renkei_web::WebConfig {
            public_url: "http://test.invalid".into(),
            ..config
        };
        let app = renkei_web::app(store.clone(), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        TestApp {
            base: format!("http://{addr}"),
            store,
            facility_id: hospital.id,
            pending_facility_id: pending.id,
            _dir: dir,
        }
    }

    /// A fresh database on the test PostgreSQL server, if one is configured.
    pub async fn try_spawn_postgres() -> Option<TestApp> {
        let Ok(url) = std::env::var("RENKEI_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("CI").map(|v| v != "true").unwrap_or(true),
                "CI must test PostgreSQL: set RENKEI_TEST_POSTGRES_URL"
            );
            return None;
        };
        let name = format!("renkei_web_{}", ids::new_id());
        let db_url = renkei_storage_sql::create_postgres_database(&url, &name)
            .await
            .unwrap();
        Some(TestApp::spawn(Backend::Postgres(db_url)).await)
    }

    pub fn backend_name(&self) -> &'static str {
        self.store.backend_name()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client without cookies that follows no redirects.
    pub fn anon(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// A client with a cookie jar, like a browser, that shows redirects instead of following.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub async fn post_login(
        &self,
        client: &reqwest::Client,
        login: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = client
            .get(self.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page);
        client
            .post(self.url("/login"))
            .form(&[
                ("login_id", login),
                ("password", password),
                ("csrf", csrf.as_str()),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Password and TOTP; returns the signed-in client and the home page HTML.
    pub async fn sign_in(&self, login: &str) -> (reqwest::Client, String) {
        let client = self.browser();
        let res = self.post_login(&client, login, PASSWORD).await;
        assert_eq!(res.status(), 303, "password stage for {login}");
        let page = client
            .get(self.url("/login/second-factor"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page);
        let code =
            renkei_domain::totp::code_at(TOTP_SECRET, (renkei_domain::now_millis() / 1000) as u64)
                .unwrap();
        let res = client
            .post(self.url("/login/second-factor"))
            .form(&[
                ("code", code.as_str()),
                ("csrf", csrf.as_str()),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            303,
            "second factor for {login}: {}",
            res.text().await.unwrap()
        );
        let home = client.get(self.url("/")).send().await.unwrap();
        assert_eq!(home.status(), 200);
        (client, home.text().await.unwrap())
    }

    pub async fn user_id(&self, login: &str) -> String {
        self.store
            .get_user_by_login(login)
            .await
            .unwrap()
            .unwrap()
            .id
    }
}

/// Runs a test against SQLite, then against PostgreSQL when a test server is configured.
pub async fn each_backend<F, Fut>(f: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f(TestApp::spawn(Backend::Sqlite).await).await;
    if let Some(app) = TestApp::try_spawn_postgres().await {
        f(app).await;
    }
}

pub fn between(haystack: &str, start: &str, end: &str) -> Option<String> {
    let from = haystack.find(start)? + start.len();
    let len = haystack[from..].find(end)?;
    Some(haystack[from..from + len].to_string())
}

/// The CSRF token of a signed-in client's session (read off its account page).
pub async fn csrf(app: &TestApp, client: &reqwest::Client) -> String {
    let page = client
        .get(app.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    csrf_of(&page)
}

pub fn csrf_of(html: &str) -> String {
    between(html, "name=\"csrf\" value=\"", "\"").expect("page has a CSRF field")
}

pub fn application_form(
    csrf: &str,
    official_id: &str,
    admin_login: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("csrf", csrf.to_string()),
        ("facility_type", "clinic".into()),
        ("legal_entity", "医療法人社団 みなと会".into()),
        ("name", "みなと内科クリニック".into()),
        ("name_kana", "みなとないかくりにっく".into()),
        ("official_id", official_id.into()),
        ("postal_code", "0530022".into()),
        ("address", "北海道苫小牧市表町3丁目1-5".into()),
        ("area", "表町".into()),
        ("tel", "0144-33-1234".into()),
        ("fax", "".into()),
        ("email", "info@minato.example.jp".into()),
        ("applicant_name", "港 一郎".into()),
        ("applicant_email", "minato@example.jp".into()),
        ("admin_name", "港 花子".into()),
        ("admin_login_id", admin_login.into()),
        ("admin_email", "hanako@example.jp".into()),
        ("professions", "physician".into()),
        ("professions", "nurse".into()),
    ]
}
