//! Home-care group cover through a real server, on both backends: a home-visit clinic
//! creates an on-call group and invites a nursing station, whose administrator accepts; the
//! clinic puts patients under the group's cover; the rota refuses overlapping and past
//! shifts; during the station's shift its nurse opens a covered patient (audited with basis
//! `group_cover` and the shift id) but not an uncovered one nor one whose individual consent
//! does not name the station; the home page shows the on-call card; when the shift ends
//! (the station leaves) access ends at once.

mod testkit;

use renkei_domain::audit::{AuditEntry, Outcome};
use renkei_domain::patient::ConsentScope;
use renkei_domain::{ids, FacilityType, MemberRole, Profession};
use renkei_storage::testsuite::{
    kana_tag, patient_record, sample_consent, sample_facility, sample_user,
};
use renkei_storage::{AuditQuery, NewUser, PersonLink};
use testkit::{csrf, each_backend, TestApp, PASSWORD, RECOVERY_CODE, TOTP_SECRET};

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, String) {
    let res = client.get(app.url(path)).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn post_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, String)],
) -> (u16, String, String) {
    let res = client.post(app.url(path)).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, res.text().await.unwrap())
}

fn staff(login: &str, profession: Profession, facility: &str, role: MemberRole) -> NewUser {
    NewUser {
        display_name: format!("当番 {login}"),
        profession,
        password_hash: Some(renkei_domain::password::hash_password(PASSWORD)),
        totp_secret: Some(TOTP_SECRET.into()),
        recovery_code_hashes: vec![renkei_domain::totp::hash_recovery_code(RECOVERY_CODE)],
        ..sample_user(login, vec![(facility.to_string(), role)])
    }
}

/// `YYYY-MM-DDTHH:MM` in JST, `offset_minutes` from the current minute.
fn jst_input(offset_minutes: i64) -> String {
    let now = renkei_domain::now_millis();
    let minute = now - now.rem_euclid(60_000) + offset_minutes * 60_000;
    chrono::DateTime::from_timestamp_millis(minute + 9 * 3_600_000)
        .unwrap()
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

#[tokio::test]
async fn on_call_group_cover() {
    each_backend(|app| async move {
        let audit = || AuditEntry::new("test.seed", Outcome::Success);
        let clinic = sample_facility(
            "当番テスト在宅クリニック",
            "トウバンテストザイタククリニック",
            FacilityType::HomeVisitClinic,
            "0111000001",
        );
        let station = sample_facility(
            "当番テスト訪問看護ステーション",
            "トウバンテストホウモンカンゴ",
            FacilityType::HomeNursingStation,
            "0161000002",
        );
        for f in [&clinic, &station] {
            app.store.create_facility(f.clone(), audit()).await.unwrap();
            let approver = sample_user(&format!("setup-{}", &f.id[..8]), vec![]);
            app.store
                .approve_facility(&f.id, approver, renkei_domain::now_millis(), audit())
                .await
                .unwrap();
        }
        for user in [
            staff(
                "clinicadmin",
                Profession::Physician,
                &clinic.id,
                MemberRole::FacilityAdmin,
            ),
            staff(
                "stationadmin",
                Profession::Nurse,
                &station.id,
                MemberRole::FacilityAdmin,
            ),
            staff(
                "stationnurse",
                Profession::Nurse,
                &station.id,
                MemberRole::Member,
            ),
        ] {
            app.store.create_user(user, audit()).await.unwrap();
        }
        let clinic_facility = app.store.get_facility(&clinic.id).await.unwrap().unwrap();
        // Three patients of the clinic's team: covered, not covered, and covered but with an
        // individual consent naming the clinic only.
        let tag = kana_tag();
        let t0 = renkei_domain::now_millis() - 60_000;
        let mut persons = Vec::new();
        for (local, given, scope) in [
            ("Z-1", "一子", ConsentScope::Comprehensive),
            ("Z-2", "二子", ConsentScope::Comprehensive),
            ("Z-3", "三子", ConsentScope::Individual),
        ] {
            let person = ids::new_id();
            app.store
                .register_patient(
                    patient_record(
                        &clinic_facility,
                        local,
                        "当番",
                        given,
                        &format!("トウ{tag}"),
                        "カズコ",
                        "1938-02-03",
                        vec![],
                        t0,
                    ),
                    PersonLink::NewPerson(person.clone()),
                    vec![],
                    audit(),
                )
                .await
                .unwrap();
            app.store
                .record_consent(
                    sample_consent(&person, scope, vec![clinic.id.clone()], &clinic.id, t0),
                    audit(),
                )
                .await
                .unwrap();
            persons.push(person);
        }
        let [covered, uncovered, individual] = <[String; 3]>::try_from(persons).unwrap();

        let (clinic_admin, _) = app.sign_in("clinicadmin").await;
        let (station_admin, _) = app.sign_in("stationadmin").await;
        let (nurse, _) = app.sign_in("stationnurse").await;
        let (hospital_admin, _) = app.sign_in("admin1").await;

        // A hospital cannot create an on-call group.
        let (status, _, _) = post_form(
            &app,
            &hospital_admin,
            "/cover-groups",
            &[
                ("csrf", csrf(&app, &hospital_admin).await),
                ("name", "病院の当番".into()),
            ],
        )
        .await;
        assert_eq!(status, 403);
        // An empty name is a form message, nothing stored.
        let (status, _, body) = post_form(
            &app,
            &clinic_admin,
            "/cover-groups",
            &[
                ("csrf", csrf(&app, &clinic_admin).await),
                ("name", "  ".into()),
            ],
        )
        .await;
        assert_eq!(status, 422);
        assert!(body.contains("id=\"form-errors\""), "{body}");
        // Creation.
        let (status, location, _) = post_form(
            &app,
            &clinic_admin,
            "/cover-groups",
            &[
                ("csrf", csrf(&app, &clinic_admin).await),
                ("name", "末広町 夜間休日当番".into()),
                ("description", "平日夜間と土日祝".into()),
            ],
        )
        .await;
        assert_eq!(status, 303);
        let group = location
            .trim_start_matches("/cover-groups/")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let group_path = format!("/cover-groups/{group}");
        // Strangers see nothing of it.
        assert_eq!(get(&app, &nurse, &group_path).await.0, 404);
        assert_eq!(get(&app, &hospital_admin, &group_path).await.0, 404);

        // Invitation and acceptance.
        let (status, _, _) = post_form(
            &app,
            &clinic_admin,
            &format!("{group_path}/invite"),
            &[
                ("csrf", csrf(&app, &clinic_admin).await),
                ("facility_id", station.id.clone()),
            ],
        )
        .await;
        assert_eq!(status, 303);
        // A hospital is not invitable.
        let (status, _, _) = post_form(
            &app,
            &clinic_admin,
            &format!("{group_path}/invite"),
            &[
                ("csrf", csrf(&app, &clinic_admin).await),
                ("facility_id", app.facility_id.clone()),
            ],
        )
        .await;
        assert_eq!(status, 422);
        let (_, list) = get(&app, &station_admin, "/cover-groups").await;
        assert!(
            list.contains("末広町 夜間休日当番") && list.contains("accept-cover"),
            "{list}"
        );
        // The nurse (not an administrator) cannot answer for the station.
        let (status, _, _) = post_form(
            &app,
            &nurse,
            &format!("{group_path}/answer"),
            &[
                ("csrf", csrf(&app, &nurse).await),
                ("answer", "accept".into()),
            ],
        )
        .await;
        assert_eq!(status, 403);
        let (status, location, _) = post_form(
            &app,
            &station_admin,
            &format!("{group_path}/answer"),
            &[
                ("csrf", csrf(&app, &station_admin).await),
                ("answer", "accept".into()),
            ],
        )
        .await;
        assert_eq!(
            (status, location.contains("notice.cover_joined")),
            (303, true)
        );

        // The clinic puts two patients under cover; the station cannot put the clinic's.
        let covered_form = |token: String| {
            vec![
                ("csrf", token),
                ("person", covered.clone()),
                ("person", individual.clone()),
            ]
        };
        let (status, _, _) = post_form(
            &app,
            &station_admin,
            &format!("{group_path}/patients"),
            &covered_form(csrf(&app, &station_admin).await),
        )
        .await;
        assert_eq!(status, 422);
        let (status, _, _) = post_form(
            &app,
            &clinic_admin,
            &format!("{group_path}/patients"),
            &covered_form(csrf(&app, &clinic_admin).await),
        )
        .await;
        assert_eq!(status, 303);

        // No shift yet: the nurse cannot open the patient.
        assert_eq!(
            get(&app, &nurse, &format!("/patients/{covered}")).await.0,
            404
        );

        // The rota: past shifts and overlaps are refused.
        if renkei_domain::now_millis().rem_euclid(60_000) > 55_000 {
            tokio::time::sleep(std::time::Duration::from_secs(6)).await;
        }
        let shift_form = |token: String, facility: &str, from: i64, to: i64| {
            vec![
                ("csrf", token),
                ("facility_id", facility.to_string()),
                ("on_call", "看護師 当番（090-1111-2222）".to_string()),
                ("starts_at", jst_input(from)),
                ("ends_at", jst_input(to)),
            ]
        };
        let (status, _, body) = post_form(
            &app,
            &station_admin,
            &format!("{group_path}/shifts"),
            &shift_form(csrf(&app, &station_admin).await, &station.id, -24 * 60, -60),
        )
        .await;
        assert_eq!(status, 422);
        assert!(body.contains("過去の時刻"), "{body}");
        let (status, _, body) = post_form(
            &app,
            &station_admin,
            &format!("{group_path}/shifts"),
            &shift_form(csrf(&app, &station_admin).await, &station.id, 0, 120),
        )
        .await;
        assert_eq!(status, 303, "{body}");
        let (status, _, body) = post_form(
            &app,
            &clinic_admin,
            &format!("{group_path}/shifts"),
            &shift_form(csrf(&app, &clinic_admin).await, &clinic.id, 60, 180),
        )
        .await;
        assert_eq!(status, 422);
        assert!(body.contains("重なっています"), "{body}");
        let (status, _, _) = post_form(
            &app,
            &clinic_admin,
            &format!("{group_path}/shifts"),
            &shift_form(csrf(&app, &clinic_admin).await, &clinic.id, 120, 240),
        )
        .await;
        assert_eq!(status, 303, "adjacent shifts are fine");
        let shifts = app
            .store
            .cover()
            .cover_shifts(&group, t0 - 3_600_000, t0 + 10 * 3_600_000)
            .await
            .unwrap();
        assert_eq!(shifts.len(), 2);
        let station_shift = shifts
            .iter()
            .find(|s| s.facility_id == station.id)
            .unwrap()
            .clone();
        let (_, page) = get(&app, &nurse, &group_path).await;
        assert!(
            page.contains("id=\"rota\"") && page.contains("090-1111-2222"),
            "{page}"
        );

        // During the shift: the covered patient opens, the others do not.
        let (status, page) = get(&app, &nurse, &format!("/patients/{covered}")).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("id=\"cover-banner\""), "{page}");
        assert!(
            page.contains(&format!("/patients/{covered}/timeline")),
            "{page}"
        );
        assert_eq!(
            get(&app, &nurse, &format!("/patients/{covered}/record"))
                .await
                .0,
            200
        );
        assert_eq!(
            get(&app, &nurse, &format!("/patients/{uncovered}")).await.0,
            404
        );
        assert_eq!(
            get(&app, &nurse, &format!("/patients/{individual}"))
                .await
                .0,
            404
        );
        assert_eq!(
            get(&app, &nurse, &format!("/patients/{individual}/record"))
                .await
                .0,
            404
        );
        // A contribution during the shift is stored, attributed to the covering station;
        // the same post for a patient outside the cover is refused like any outsider's.
        let post = |person: String| {
            let app = &app;
            let nurse = &nurse;
            async move {
                let form = reqwest::multipart::Form::new()
                    .text("csrf", csrf(app, nurse).await)
                    .text("kind", "report")
                    .text("text", "夜間往診の依頼あり。発熱38.2℃、解熱剤で様子見。");
                let res = nurse
                    .post(app.url(&format!("/patients/{person}/timeline")))
                    .multipart(form)
                    .send()
                    .await
                    .unwrap();
                res.status().as_u16()
            }
        };
        assert_eq!(post(covered.clone()).await, 303);
        assert_eq!(post(uncovered.clone()).await, 404);
        let (_, timeline) = get(
            &app,
            &clinic_admin,
            &format!("/patients/{covered}/timeline"),
        )
        .await;
        assert!(timeline.contains("夜間往診の依頼あり"), "{timeline}");
        assert!(
            timeline.contains("当番テスト訪問看護ステーション"),
            "{timeline}"
        );
        // The home page's on-call card lists the covered patient the nurse may open.
        let (_, home) = get(&app, &nurse, "/").await;
        assert!(home.contains(&format!("id=\"on-call-{group}\"")), "{home}");
        assert!(home.contains(&format!("/patients/{covered}\"")), "{home}");
        assert!(
            !home.contains(&format!("/patients/{individual}\"")),
            "{home}"
        );
        // Every read is audited with the basis and the shift.
        let reads = app
            .store
            .search_audit(&AuditQuery {
                patient_id: Some(covered.clone()),
                action_prefix: Some("patient.read".into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let cover_reads: Vec<_> = reads
            .iter()
            .map(|r| {
                (
                    r,
                    serde_json::from_str::<serde_json::Value>(&r.entry.detail).unwrap(),
                )
            })
            .filter(|(_, d)| d["basis"] == "group_cover")
            .collect();
        assert!(cover_reads.len() >= 3, "{reads:?}");
        for (r, d) in &cover_reads {
            assert_eq!(d["cover_shift"], station_shift.id.as_str());
            assert_eq!(
                r.entry.actor_facility_id.as_deref(),
                Some(station.id.as_str())
            );
        }
        // A started shift cannot be deleted.
        let (status, _, _) = post_form(
            &app,
            &clinic_admin,
            &format!("{group_path}/shifts/{}/delete", station_shift.id),
            &[("csrf", csrf(&app, &clinic_admin).await)],
        )
        .await;
        assert_eq!(status, 422);

        // The station leaves: its shift ends now, and the access with it.
        let (status, _, _) = post_form(
            &app,
            &station_admin,
            &format!("{group_path}/leave"),
            &[("csrf", csrf(&app, &station_admin).await)],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(
            get(&app, &nurse, &format!("/patients/{covered}")).await.0,
            404
        );
        assert_eq!(
            get(&app, &nurse, &format!("/patients/{covered}/record"))
                .await
                .0,
            404
        );
        let (_, home) = get(&app, &nurse, "/").await;
        assert!(!home.contains("on-call-"), "{home}");
        assert_eq!(get(&app, &nurse, &group_path).await.0, 404);
        let changes = app
            .store
            .search_audit(&AuditQuery {
                action_prefix: Some("cover.".into()),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let actions: Vec<&str> = changes.iter().map(|r| r.entry.action.as_str()).collect();
        for a in [
            "cover.group_create",
            "cover.invite",
            "cover.accept",
            "cover.patients_set",
            "cover.shift_add",
            "cover.leave",
        ] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }
    })
    .await;
}

/// The kinds of a user's notifications, newest first, with their links.
async fn inbox_of(app: &TestApp, login: &str) -> Vec<(String, String)> {
    let user = app.user_id(login).await;
    app.store
        .notifications()
        .notifications_of(&user, false, 100, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|n| (n.kind, n.link))
        .collect()
}

/// Reads the next `unread` count off the live badge stream, within 5 s.
async fn next_unread(res: &mut reqwest::Response, buf: &mut String) -> i64 {
    tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            while let Some(end) = buf.find("\n\n") {
                let event: String = buf.drain(..end + 2).collect();
                if let Some(data) = event
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .filter(|_| event.contains("event: unread"))
                {
                    let v: serde_json::Value = serde_json::from_str(data).unwrap();
                    return v["unread"].as_i64().unwrap();
                }
            }
            let chunk = res.chunk().await.unwrap().expect("stream open");
            buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("an event within 5 s")
}

/// Who hears of what: an invitation reaches the invited facility's administrators (live
/// badge, inbox entry naming the group, read once the group page is seen) but not its other
/// staff; a refused invitation notifies nobody; a shift put on another facility's rota
/// reaches that facility's staff, one a facility puts itself on nobody, a refused
/// (overlapping) one nobody; a member leaving reaches the other members' administrators; a
/// removed member's administrators hear of it too, with a link that does not 404.
#[tokio::test]
async fn on_call_group_notifications() {
    each_backend(|app| async move {
        let audit = || AuditEntry::new("test.seed", Outcome::Success);
        let clinic = sample_facility(
            "通知テスト在宅クリニック",
            "ツウチテストザイタククリニック",
            FacilityType::HomeVisitClinic,
            "0111000011",
        );
        let station = sample_facility(
            "通知テスト訪問看護ステーション",
            "ツウチテストホウモンカンゴ",
            FacilityType::HomeNursingStation,
            "0161000012",
        );
        let other = sample_facility(
            "通知テスト医院",
            "ツウチテストイイン",
            FacilityType::Clinic,
            "0111000013",
        );
        for f in [&clinic, &station, &other] {
            app.store.create_facility(f.clone(), audit()).await.unwrap();
            let approver = sample_user(&format!("setup-{}", &f.id[..8]), vec![]);
            app.store
                .approve_facility(&f.id, approver, renkei_domain::now_millis(), audit())
                .await
                .unwrap();
        }
        for user in [
            staff(
                "n.clinicadmin",
                Profession::Physician,
                &clinic.id,
                MemberRole::FacilityAdmin,
            ),
            staff(
                "n.clinicdoc",
                Profession::Physician,
                &clinic.id,
                MemberRole::Member,
            ),
            staff(
                "n.stationadmin",
                Profession::Nurse,
                &station.id,
                MemberRole::FacilityAdmin,
            ),
            staff(
                "n.stationnurse",
                Profession::Nurse,
                &station.id,
                MemberRole::Member,
            ),
            staff(
                "n.otheradmin",
                Profession::Physician,
                &other.id,
                MemberRole::FacilityAdmin,
            ),
        ] {
            app.store.create_user(user, audit()).await.unwrap();
        }
        let (clinic_admin, _) = app.sign_in("n.clinicadmin").await;
        let (station_admin, _) = app.sign_in("n.stationadmin").await;
        let (station_nurse, _) = app.sign_in("n.stationnurse").await;
        let (other_admin, _) = app.sign_in("n.otheradmin").await;
        let (_, location, _) = post_form(
            &app,
            &clinic_admin,
            "/cover-groups",
            &[
                ("csrf", csrf(&app, &clinic_admin).await),
                ("name", "通知テスト 在宅医療当番グループ".into()),
            ],
        )
        .await;
        let group = location
            .trim_start_matches("/cover-groups/")
            .split('?')
            .next()
            .unwrap()
            .to_string();
        let group_path = format!("/cover-groups/{group}");

        // The invitation, heard live by the station's administrator.
        let mut live = station_admin
            .get(app.url("/notifications/stream"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        let mut buf = String::new();
        assert_eq!(next_unread(&mut live, &mut buf).await, 0);
        let invite = |facility: String| {
            let app = &app;
            let clinic_admin = &clinic_admin;
            let group_path = &group_path;
            async move {
                post_form(
                    app,
                    clinic_admin,
                    &format!("{group_path}/invite"),
                    &[
                        ("csrf", csrf(app, clinic_admin).await),
                        ("facility_id", facility),
                    ],
                )
                .await
                .0
            }
        };
        assert_eq!(invite(station.id.clone()).await, 303);
        assert_eq!(next_unread(&mut live, &mut buf).await, 1);
        drop(live);
        assert_eq!(
            inbox_of(&app, "n.stationadmin").await,
            vec![("cover_invitation".to_string(), group_path.clone())]
        );
        assert!(inbox_of(&app, "n.stationnurse").await.is_empty());
        assert!(inbox_of(&app, "n.clinicadmin").await.is_empty());
        // Inviting again is refused and notifies nobody.
        assert_eq!(invite(station.id.clone()).await, 422);
        assert_eq!(inbox_of(&app, "n.stationadmin").await.len(), 1);
        let (_, inbox) = get(&app, &station_admin, "/notifications").await;
        assert!(
            inbox.contains("当番グループへの招待")
                && inbox.contains("通知テスト 在宅医療当番グループ")
                && inbox.contains("通知テスト在宅クリニック"),
            "{inbox}"
        );
        // Seeing the group reads it.
        let (_, page) = get(&app, &station_admin, &group_path).await;
        assert!(page.contains("accept-cover"), "{page}");
        let user = app.user_id("n.stationadmin").await;
        assert!(app
            .store
            .notifications()
            .notifications_of(&user, true, 10, 0)
            .await
            .unwrap()
            .is_empty());
        for (client, login) in [(&station_admin, "station"), (&other_admin, "other")] {
            if login == "other" {
                assert_eq!(invite(other.id.clone()).await, 303);
            }
            let (status, _, _) = post_form(
                &app,
                client,
                &format!("{group_path}/answer"),
                &[
                    ("csrf", csrf(&app, client).await),
                    ("answer", "accept".into()),
                ],
            )
            .await;
            assert_eq!(status, 303);
        }

        // Shifts: the clinic puts the station on the rota (its staff hear of it); the
        // station puts itself on (nobody does); an overlapping one is refused (nobody).
        if renkei_domain::now_millis().rem_euclid(60_000) > 55_000 {
            tokio::time::sleep(std::time::Duration::from_secs(6)).await;
        }
        let shift = |client: &reqwest::Client, facility: &str, from: i64, to: i64| {
            let app = &app;
            let client = client.clone();
            let facility = facility.to_string();
            let group_path = group_path.clone();
            async move {
                post_form(
                    app,
                    &client,
                    &format!("{group_path}/shifts"),
                    &[
                        ("csrf", csrf(app, &client).await),
                        ("facility_id", facility),
                        ("on_call", String::new()),
                        ("starts_at", jst_input(from)),
                        ("ends_at", jst_input(to)),
                    ],
                )
                .await
                .0
            }
        };
        assert_eq!(shift(&clinic_admin, &station.id, 600, 720).await, 303);
        let week = jst_input(600)[..10].to_string();
        let expected = vec![(
            "cover_shift".to_string(),
            format!("{group_path}?week={week}"),
        )];
        assert_eq!(inbox_of(&app, "n.stationnurse").await, expected);
        assert_eq!(inbox_of(&app, "n.stationadmin").await[0], expected[0]);
        assert!(inbox_of(&app, "n.clinicdoc").await.is_empty());
        let (_, inbox) = get(&app, &station_nurse, "/notifications").await;
        assert!(inbox.contains("当番の割り当て"), "{inbox}");
        assert_eq!(shift(&station_admin, &station.id, 720, 840).await, 303);
        assert_eq!(shift(&clinic_admin, &station.id, 800, 900).await, 422);
        assert_eq!(inbox_of(&app, "n.stationnurse").await.len(), 1);
        assert_eq!(inbox_of(&app, "n.stationadmin").await.len(), 2);

        // The station leaves: the clinic's and the other clinic's administrators hear of
        // it, not the clinic's doctor nor the station itself.
        let (status, _, _) = post_form(
            &app,
            &station_admin,
            &format!("{group_path}/leave"),
            &[("csrf", csrf(&app, &station_admin).await)],
        )
        .await;
        assert_eq!(status, 303);
        let left = ("cover_member_left".to_string(), group_path.clone());
        assert_eq!(inbox_of(&app, "n.clinicadmin").await, vec![left.clone()]);
        assert_eq!(inbox_of(&app, "n.otheradmin").await[0], left);
        assert!(inbox_of(&app, "n.clinicdoc").await.is_empty());
        assert_eq!(inbox_of(&app, "n.stationadmin").await.len(), 2);
        // The clinic removes the other clinic, whose administrator is told with a link to
        // the list of its groups (the group itself is closed to it now).
        let (status, _, _) = post_form(
            &app,
            &clinic_admin,
            &format!("{group_path}/remove"),
            &[
                ("csrf", csrf(&app, &clinic_admin).await),
                ("facility_id", other.id.clone()),
            ],
        )
        .await;
        assert_eq!(status, 303);
        assert_eq!(
            inbox_of(&app, "n.otheradmin").await[0],
            ("cover_member_left".to_string(), "/cover-groups".to_string())
        );
        assert_eq!(
            inbox_of(&app, "n.clinicadmin").await.len(),
            1,
            "not of its own act"
        );
        let (_, inbox) = get(&app, &other_admin, "/notifications").await;
        assert!(
            inbox.contains("当番グループの参加施設の脱退・除外"),
            "{inbox}"
        );
        assert_eq!(get(&app, &other_admin, "/cover-groups").await.0, 200);
    })
    .await;
}
