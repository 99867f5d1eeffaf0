// Patient, consent, care-team and break-glass queries shared by both backends. Included
// after `shared.rs` into `sqlite.rs` and `postgres.rs`; see there for the contract.

use renkei_domain::patient::{CareLevel, ConsentScope, InfoCategory, Sex, TeamStatus};

const PATIENT_COLUMNS: &str = "id, person_id, facility_id, id_system, local_id, family_kanji, given_kanji, \
     family_kana, given_kana, previous_names, birth_date, sex, postal_code, address, phones, \
     insurance_numbers, care_level, is_test, created_by, created_at, updated_at";

const CONSENT_COLUMNS: &str = "id, person_id, status, scope, facilities, excluded, form, signer, proxy_name, \
     proxy_relationship, family_participation, family_note, obtained_by, obtained_facility_id, \
     obtained_at, place, card_number, withdrawn_at, withdrawn_by, withdrawal_reason, created_at";

fn json_list<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("stored {what} is not valid JSON: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serialises")
}

fn patient_from_row(row: &<Db as sqlx::Database>::Row) -> Result<PatientRecord, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading patient row", e);
    let sex: String = row.try_get("sex").map_err(g)?;
    let care: String = row.try_get("care_level").map_err(g)?;
    let previous: String = row.try_get("previous_names").map_err(g)?;
    let phones: String = row.try_get("phones").map_err(g)?;
    let insurance: String = row.try_get("insurance_numbers").map_err(g)?;
    Ok(PatientRecord {
        id: row.try_get("id").map_err(g)?,
        person_id: row.try_get("person_id").map_err(g)?,
        facility_id: row.try_get("facility_id").map_err(g)?,
        id_system: row.try_get("id_system").map_err(g)?,
        local_id: row.try_get("local_id").map_err(g)?,
        family_kanji: row.try_get("family_kanji").map_err(g)?,
        given_kanji: row.try_get("given_kanji").map_err(g)?,
        family_kana: row.try_get("family_kana").map_err(g)?,
        given_kana: row.try_get("given_kana").map_err(g)?,
        previous_names: json_list("previous names", &previous)?,
        birth_date: row.try_get("birth_date").map_err(g)?,
        sex: Sex::from_code(&sex).ok_or_else(|| corrupt("sex", &sex))?,
        postal_code: row.try_get("postal_code").map_err(g)?,
        address: row.try_get("address").map_err(g)?,
        phones: json_list("phones", &phones)?,
        insurance_numbers: json_list("insurance numbers", &insurance)?,
        care_level: CareLevel::from_code(&care).ok_or_else(|| corrupt("care level", &care))?,
        is_test: row.try_get("is_test").map_err(g)?,
        created_by: row.try_get("created_by").map_err(g)?,
        created_at: row.try_get("created_at").map_err(g)?,
        updated_at: row.try_get("updated_at").map_err(g)?,
    })
}

fn consent_from_row(row: &<Db as sqlx::Database>::Row) -> Result<Consent, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading consent row", e);
    let scope: String = row.try_get("scope").map_err(g)?;
    let facilities: String = row.try_get("facilities").map_err(g)?;
    let excluded: String = row.try_get("excluded").map_err(g)?;
    let excluded: Vec<String> = json_list("excluded categories", &excluded)?;
    Ok(Consent {
        id: row.try_get("id").map_err(g)?,
        person_id: row.try_get("person_id").map_err(g)?,
        status: row.try_get("status").map_err(g)?,
        scope: ConsentScope::from_code(&scope).ok_or_else(|| corrupt("consent scope", &scope))?,
        facilities: json_list("consent facilities", &facilities)?,
        excluded: excluded
            .iter()
            .map(|c| InfoCategory::from_code(c).ok_or_else(|| corrupt("category", c)))
            .collect::<Result<_, _>>()?,
        form: row.try_get("form").map_err(g)?,
        signer: row.try_get("signer").map_err(g)?,
        proxy_name: row.try_get("proxy_name").map_err(g)?,
        proxy_relationship: row.try_get("proxy_relationship").map_err(g)?,
        family_participation: row.try_get("family_participation").map_err(g)?,
        family_note: row.try_get("family_note").map_err(g)?,
        obtained_by: row.try_get("obtained_by").map_err(g)?,
        obtained_facility_id: row.try_get("obtained_facility_id").map_err(g)?,
        obtained_at: row.try_get("obtained_at").map_err(g)?,
        place: row.try_get("place").map_err(g)?,
        card_number: row.try_get("card_number").map_err(g)?,
        withdrawn_at: row.try_get("withdrawn_at").map_err(g)?,
        withdrawn_by: row.try_get("withdrawn_by").map_err(g)?,
        withdrawal_reason: row.try_get("withdrawal_reason").map_err(g)?,
        created_at: row.try_get("created_at").map_err(g)?,
    })
}

fn team_from_row(row: &<Db as sqlx::Database>::Row) -> Result<TeamMember, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading care team row", e);
    let status: String = row.try_get("status").map_err(g)?;
    Ok(TeamMember {
        person_id: row.try_get("person_id").map_err(g)?,
        facility_id: row.try_get("facility_id").map_err(g)?,
        status: TeamStatus::from_code(&status).ok_or_else(|| corrupt("team status", &status))?,
        invited_by_facility: row.try_get("invited_by_facility").map_err(g)?,
        invited_by_user: row.try_get("invited_by_user").map_err(g)?,
        note: row.try_get("note").map_err(g)?,
        created_at: row.try_get("created_at").map_err(g)?,
        updated_at: row.try_get("updated_at").map_err(g)?,
    })
}

fn break_glass_from_row(row: &<Db as sqlx::Database>::Row) -> Result<BreakGlassEvent, StoreError> {
    let g = |e: sqlx::Error| backend_error("reading break-glass row", e);
    Ok(BreakGlassEvent {
        id: row.try_get("id").map_err(g)?,
        person_id: row.try_get("person_id").map_err(g)?,
        user_id: row.try_get("user_id").map_err(g)?,
        facility_id: row.try_get("facility_id").map_err(g)?,
        reason: row.try_get("reason").map_err(g)?,
        started_at: row.try_get("started_at").map_err(g)?,
        expires_at: row.try_get("expires_at").map_err(g)?,
    })
}

fn patient_search_text(r: &NewPatientRecord) -> String {
    search_text_of(&r.family_kanji, &r.given_kanji, &r.family_kana, &r.given_kana, &r.previous_names, &r.birth_date, &r.local_id)
}

/// The folded text the patient lists search: names, previous names, birth date, local ID.
fn search_text_of(family_kanji: &str, given_kanji: &str, family_kana: &str, given_kana: &str, previous_names: &[PreviousName], birth_date: &str, local_id: &str) -> String {
    let previous: Vec<String> = previous_names.iter().map(|p| format!("{} {}", p.family_kanji, p.family_kana)).collect();
    search_fold(&format!(
        "{} {} {} {} {} {} {}",
        family_kanji,
        given_kanji,
        family_kana,
        given_kana,
        previous.join(" "),
        birth_date,
        local_id
    ))
}

/// Stores a registration's blocking keys (duplicates dropped).
async fn insert_block_keys(conn: &mut Conn, record_id: &str, block_keys: &[i64]) -> Result<(), StoreError> {
    let mut keys = block_keys.to_vec();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    let mut qb = QueryBuilder::<Db>::new("INSERT INTO patient_block_keys (record_id, block_key) ");
    qb.push_values(&keys, |mut b, key| {
        b.push_bind(record_id).push_bind(*key);
    });
    qb.build().execute(&mut *conn).await.map_err(err("storing match keys"))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn add_link_event(conn: &mut Conn, action: &str, record_id: Option<&str>, from: Option<&str>, to: Option<&str>, by_user: &str, at: Millis, detail: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO person_link_history (id, action, record_id, from_person, to_person, by_user, at, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(renkei_domain::ids::new_id())
    .bind(action)
    .bind(record_id)
    .bind(from)
    .bind(to)
    .bind(by_user)
    .bind(at)
    .bind(detail)
    .execute(&mut *conn)
    .await
    .map_err(err("recording link history"))?;
    Ok(())
}

/// Ensures the facility is an active member of the person's care team.
async fn join_team(conn: &mut Conn, person_id: &str, facility_id: &str, at: Millis) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO care_team_members (person_id, facility_id, status, invited_by_facility, invited_by_user, note, created_at, updated_at) \
         VALUES ($1, $2, 'active', NULL, NULL, '', $3, $3) \
         ON CONFLICT (person_id, facility_id) DO UPDATE SET status = 'active', updated_at = excluded.updated_at",
    )
    .bind(person_id)
    .bind(facility_id)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(err("joining care team"))?;
    Ok(())
}

/// Moves everything of person `from` to person `to` (records, team, consents) and marks
/// `from` as merged.
async fn merge_persons(conn: &mut Conn, from: &str, to: &str, at: Millis) -> Result<(), StoreError> {
    if from == to {
        return Ok(());
    }
    sqlx::query("UPDATE patient_records SET person_id = $1, updated_at = $2 WHERE person_id = $3")
        .bind(to)
        .bind(at)
        .bind(from)
        .execute(&mut *conn)
        .await
        .map_err(err("moving records"))?;
    // Team: keep the stronger status where both persons had the facility.
    let rows = sqlx::query("SELECT facility_id, status FROM care_team_members WHERE person_id = $1")
        .bind(from)
        .fetch_all(&mut *conn)
        .await
        .map_err(err("reading team"))?;
    for row in rows {
        let facility: String = row.try_get("facility_id").map_err(err("team"))?;
        let status: String = row.try_get("status").map_err(err("team"))?;
        if status == "active" {
            join_team(conn, to, &facility, at).await?;
        } else {
            sqlx::query(
                "INSERT INTO care_team_members (person_id, facility_id, status, invited_by_facility, invited_by_user, note, created_at, updated_at) \
                 VALUES ($1, $2, $3, NULL, NULL, '', $4, $4) ON CONFLICT (person_id, facility_id) DO NOTHING",
            )
            .bind(to)
            .bind(&facility)
            .bind(&status)
            .bind(at)
            .execute(&mut *conn)
            .await
            .map_err(err("merging team"))?;
        }
    }
    sqlx::query("DELETE FROM care_team_members WHERE person_id = $1")
        .bind(from)
        .execute(&mut *conn)
        .await
        .map_err(err("merging team"))?;
    // A person put under a group's cover stays covered as the surviving person.
    sqlx::query(
        "INSERT INTO cover_patients (group_id, facility_id, person_id, added_at) \
         SELECT group_id, facility_id, $1, added_at FROM cover_patients WHERE person_id = $2 \
         ON CONFLICT (group_id, facility_id, person_id) DO NOTHING",
    )
    .bind(to)
    .bind(from)
    .execute(&mut *conn)
    .await
    .map_err(err("merging covered patients"))?;
    sqlx::query("DELETE FROM cover_patients WHERE person_id = $1")
        .bind(from)
        .execute(&mut *conn)
        .await
        .map_err(err("merging covered patients"))?;
    // Consents follow the person; if both had an active one, the surviving person's stays
    // active and the other is closed as superseded, so one active consent remains.
    let survivor_active: Option<String> = sqlx::query_scalar("SELECT id FROM consents WHERE person_id = $1 AND status = 'active'")
        .bind(to)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err("reading consent"))?;
    if survivor_active.is_some() {
        sqlx::query("UPDATE consents SET status = 'superseded' WHERE person_id = $1 AND status = 'active'")
            .bind(from)
            .execute(&mut *conn)
            .await
            .map_err(err("merging consents"))?;
    }
    for table in ["consents", "break_glass", "team_notices"] {
        sqlx::query(&format!("UPDATE {table} SET person_id = $1 WHERE person_id = $2"))
            .bind(to)
            .bind(from)
            .execute(&mut *conn)
            .await
            .map_err(err("merging person data"))?;
    }
    sqlx::query("UPDATE persons SET merged_into = $1 WHERE id = $2 OR merged_into = $2")
        .bind(to)
        .bind(from)
        .execute(&mut *conn)
        .await
        .map_err(err("marking merge"))?;
    Ok(())
}

/// Inserts an active consent; a second active consent of the person is a `Conflict`.
async fn insert_consent(conn: &mut Conn, c: &NewConsent) -> Result<(), StoreError> {
        let excluded: Vec<&str> = c.excluded.iter().map(|e| e.code()).collect();
        sqlx::query(&format!(
            "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL, NULL, NULL, $17)"
        ))
        .bind(&c.id)
        .bind(&c.person_id)
        .bind(c.scope.code())
        .bind(to_json(&c.facilities))
        .bind(to_json(&excluded))
        .bind(&c.form)
        .bind(&c.signer)
        .bind(&c.proxy_name)
        .bind(&c.proxy_relationship)
        .bind(c.family_participation)
        .bind(&c.family_note)
        .bind(&c.obtained_by)
        .bind(&c.obtained_facility_id)
        .bind(c.obtained_at)
        .bind(&c.place)
        .bind(&c.card_number)
        .bind(c.created_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| match backend_error("recording consent", e) {
            StoreError::Conflict(_) => StoreError::Conflict("the patient already has an active consent; withdraw it first".into()),
            other => other,
        })?;
    Ok(())
}

/// Inserts one registration with its blocking keys.
async fn insert_patient_record(conn: &mut Conn, r: &NewPatientRecord, person_id: &str) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO patient_records ({PATIENT_COLUMNS}, search_text) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20, $21)"
        ))
        .bind(&r.id)
        .bind(person_id)
        .bind(&r.facility_id)
        .bind(&r.id_system)
        .bind(&r.local_id)
        .bind(&r.family_kanji)
        .bind(&r.given_kanji)
        .bind(&r.family_kana)
        .bind(&r.given_kana)
        .bind(to_json(&r.previous_names))
        .bind(&r.birth_date)
        .bind(r.sex.code())
        .bind(&r.postal_code)
        .bind(&r.address)
        .bind(to_json(&r.phones))
        .bind(to_json(&r.insurance_numbers))
        .bind(r.care_level.code())
        .bind(r.is_test)
        .bind(&r.created_by)
        .bind(r.created_at)
        .bind(patient_search_text(r))
        .execute(&mut *conn)
        .await
        .map_err(|e| match backend_error("registering patient", e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("patient ID {} is already registered at this facility", r.local_id)),
            other => other,
        })?;
    insert_block_keys(conn, &r.id, &r.block_keys).await
}

/// Loads a synthetic network's patients inside the import transaction.
async fn import_patients(conn: &mut Conn, p: &PatientImport) -> Result<(), StoreError> {
    for (id, at) in &p.persons {
        sqlx::query("INSERT INTO persons (id, created_at, merged_into, is_test) VALUES ($1, $2, NULL, FALSE)")
            .bind(id)
            .bind(*at)
            .execute(&mut *conn)
            .await
            .map_err(err("importing person"))?;
    }
    for (record, person) in &p.records {
        insert_patient_record(conn, record, person).await?;
        add_link_event(conn, "import", Some(&record.id), None, Some(person), &record.created_by, record.created_at, "{}").await?;
    }
    for m in &p.team {
        sqlx::query(
            "INSERT INTO care_team_members (person_id, facility_id, status, invited_by_facility, invited_by_user, note, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&m.person_id)
        .bind(&m.facility_id)
        .bind(m.status.code())
        .bind(&m.invited_by_facility)
        .bind(&m.invited_by_user)
        .bind(&m.note)
        .bind(m.created_at)
        .bind(m.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(err("importing care team"))?;
    }
    for (consent, withdrawn_at) in &p.consents {
        insert_consent(conn, consent).await?;
        if let Some(at) = withdrawn_at {
            sqlx::query("UPDATE consents SET status = 'withdrawn', withdrawn_at = $1, withdrawn_by = $2, withdrawal_reason = $3 WHERE id = $4")
                .bind(*at)
                .bind(&consent.obtained_by)
                .bind("本人の申し出")
                .bind(&consent.id)
                .execute(&mut *conn)
                .await
                .map_err(err("importing withdrawal"))?;
        }
    }
    for (record_id, review) in &p.reviews {
        sqlx::query(
            "INSERT INTO match_reviews (id, record_id, candidate_record_id, weight, probability, detail, status, created_at, decided_by, decided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, NULL, NULL)",
        )
        .bind(&review.id)
        .bind(record_id)
        .bind(&review.candidate_record_id)
        .bind(review.weight)
        .bind(review.probability)
        .bind(&review.detail)
        .bind(renkei_domain::now_millis())
        .execute(&mut *conn)
        .await
        .map_err(err("importing review"))?;
    }
    Ok(())
}

/// A cover shift under way (`s`) in which facility `$2` covers person `q.person` at `$4`: the
/// facility is an active member of the shift's group, and an active member of the group that
/// is an active care-team member of the person covers them (all its team patients, or this
/// one chosen).
const COVERING_SHIFT: &str = "s.facility_id = $2 AND s.starts_at <= $4 AND s.ends_at > $4 \
     AND EXISTS (SELECT 1 FROM cover_group_members cm WHERE cm.group_id = s.group_id AND cm.facility_id = $2 AND cm.status = 'active') \
     AND EXISTS (SELECT 1 FROM cover_group_members om \
      JOIN care_team_members ot ON ot.facility_id = om.facility_id AND ot.person_id = q.person AND ot.status = 'active' \
      WHERE om.group_id = s.group_id AND om.status = 'active' AND (om.covers_all = TRUE OR EXISTS (SELECT 1 FROM cover_patients cp \
       WHERE cp.group_id = om.group_id AND cp.facility_id = om.facility_id AND cp.person_id = q.person)))";

/// `shift group ends_at` as the access query returns it (ids never contain spaces).
fn cover_grant_from(s: &str) -> Result<renkei_domain::patient::CoverGrant, StoreError> {
    let mut parts = s.split(' ');
    match (parts.next(), parts.next(), parts.next().and_then(|e| e.parse().ok())) {
        (Some(shift), Some(group), Some(ends_at)) => Ok(renkei_domain::patient::CoverGrant {
            shift_id: shift.to_string(),
            group_id: group.to_string(),
            ends_at,
        }),
        _ => Err(corrupt("cover shift", s)),
    }
}

impl SqlStore {
    async fn p_access_facts(&self, person_id: &str, facility_id: Option<&str>, user_id: &str, now: Millis) -> StoreResult<AccessFacts> {
        // One round trip: every read of patient data asks this first.
        let row = sqlx::query(&format!(
            "SELECT q.person, \
             (SELECT s.id || ' ' || s.group_id || ' ' || CAST(s.ends_at AS TEXT) FROM cover_shifts s WHERE {COVERING_SHIFT} \
              ORDER BY s.ends_at DESC, s.id LIMIT 1) AS cover_shift, \
             (SELECT t.status FROM care_team_members t WHERE t.person_id = q.person AND t.facility_id = $2) AS team_status, \
             (SELECT COUNT(*) FROM patient_records r WHERE r.person_id = q.person AND r.facility_id = $2) AS own_records, \
             (SELECT MAX(b.expires_at) FROM break_glass b WHERE b.user_id = $3 AND b.person_id = q.person AND b.expires_at > $4) AS bg_expires, \
             c.id AS consent_id, c.scope, c.facilities, c.excluded, c.withdrawn_at \
             FROM (SELECT COALESCE(p.merged_into, p.id) AS person FROM persons p WHERE p.id = $1) q \
             LEFT JOIN consents c ON c.id = (SELECT c2.id FROM consents c2 WHERE c2.person_id = q.person AND c2.status <> 'superseded' \
             ORDER BY c2.created_at DESC, c2.id LIMIT 1)",
        ))
        .bind(person_id)
        .bind(facility_id.unwrap_or(""))
        .bind(user_id)
        .bind(now)
        .fetch_optional(self.read_pool())
        .await
        .map_err(err("reading access facts"))?;
        let Some(row) = row else { return Ok(AccessFacts::default()) };
        let g = |e| backend_error("reading access facts", e);
        let person: String = row.try_get("person").map_err(g)?;
        let team: Option<String> = row.try_get("team_status").map_err(g)?;
        let own: i64 = row.try_get("own_records").map_err(g)?;
        let bg: Option<i64> = row.try_get("bg_expires").map_err(g)?;
        let cover: Option<String> = row.try_get("cover_shift").map_err(g)?;
        let cover = cover.map(|c| cover_grant_from(&c)).transpose()?;
        let consent_id: Option<String> = row.try_get("consent_id").map_err(g)?;
        let consent = match consent_id {
            None => None,
            Some(_) => {
                let scope: String = row.try_get("scope").map_err(g)?;
                let facilities: String = row.try_get("facilities").map_err(g)?;
                let excluded: String = row.try_get("excluded").map_err(g)?;
                let excluded: Vec<String> = json_list("excluded categories", &excluded)?;
                Some(renkei_domain::patient::ConsentView {
                    scope: ConsentScope::from_code(&scope).ok_or_else(|| corrupt("consent scope", &scope))?,
                    facilities: json_list("consent facilities", &facilities)?,
                    excluded: excluded.iter().map(|e| InfoCategory::from_code(e).ok_or_else(|| corrupt("category", e))).collect::<Result<_, _>>()?,
                    withdrawn_at: row.try_get("withdrawn_at").map_err(g)?,
                })
            }
        };
        Ok(AccessFacts {
            person_id: Some(person),
            team_status: team.map(|t| TeamStatus::from_code(&t).ok_or_else(|| corrupt("team status", &t))).transpose()?,
            own_registration: facility_id.is_some() && own > 0,
            consent,
            break_glass_expires_at: bg,
            cover,
        })
    }

    async fn p_register(&self, r: NewPatientRecord, link: PersonLink, reviews: Vec<NewMatchReview>, audit: AuditEntry) -> StoreResult<PatientRecord> {
        let mut tx = self.begin_write().await?;
        let person_id = match &link {
            PersonLink::NewPerson(id) => {
                sqlx::query("INSERT INTO persons (id, created_at, merged_into, is_test) VALUES ($1, $2, NULL, $3)")
                    .bind(id)
                    .bind(r.created_at)
                    .bind(r.is_test)
                    .execute(&mut *tx)
                    .await
                    .map_err(err("creating person"))?;
                id.clone()
            }
            PersonLink::Existing(id) => {
                let found: Option<String> = sqlx::query_scalar("SELECT id FROM persons WHERE id = $1 AND merged_into IS NULL")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(err("reading person"))?;
                found.ok_or_else(|| StoreError::InvalidState(format!("person {id} does not exist or was merged")))?
            }
        };
        insert_patient_record(&mut tx, &r, &person_id).await?;
        for review in &reviews {
            sqlx::query(
                "INSERT INTO match_reviews (id, record_id, candidate_record_id, weight, probability, detail, status, created_at, decided_by, decided_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, NULL, NULL)",
            )
            .bind(&review.id)
            .bind(&r.id)
            .bind(&review.candidate_record_id)
            .bind(review.weight)
            .bind(review.probability)
            .bind(&review.detail)
            .bind(r.created_at)
            .execute(&mut *tx)
            .await
            .map_err(err("queueing match review"))?;
        }
        let action = match link {
            PersonLink::NewPerson(_) => "new_person",
            PersonLink::Existing(_) => "auto_link",
        };
        add_link_event(&mut tx, action, Some(&r.id), None, Some(&person_id), &r.created_by, r.created_at, "{}").await?;
        join_team(&mut tx, &person_id, &r.facility_id, r.created_at).await?;
        let mut audit = audit;
        audit.patient_id = Some(person_id.clone());
        append_audit_in(&mut tx, audit, r.created_at).await?;
        let row = sqlx::query(&format!("SELECT {PATIENT_COLUMNS} FROM patient_records WHERE id = $1"))
            .bind(&r.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("reading registration"))?;
        let stored = patient_from_row(&row)?;
        tx.commit().await.map_err(err("committing registration"))?;
        Ok(stored)
    }

    async fn p_update_patient(&self, u: PatientUpdate, audit: AuditEntry) -> StoreResult<PatientRecord> {
        if u.updated_at <= u.expected_updated_at {
            return Err(StoreError::InvalidState("updated_at must be later than the version replaced".into()));
        }
        let mut tx = self.begin_write().await?;
        // The local ID never changes; it is part of the search text.
        let local_id: String = sqlx::query_scalar("SELECT local_id FROM patient_records WHERE id = $1")
            .bind(&u.record_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("reading registration"))?
            .ok_or_else(|| StoreError::NotFound(format!("patient record {}", u.record_id)))?;
        // The version check and the write in one statement: a concurrent writer that got
        // there first leaves nothing to update.
        let person_id: Option<String> = sqlx::query_scalar(
            "UPDATE patient_records SET family_kanji = $1, given_kanji = $2, family_kana = $3, given_kana = $4, \
             previous_names = $5, birth_date = $6, sex = $7, postal_code = $8, address = $9, phones = $10, \
             insurance_numbers = $11, care_level = $12, search_text = $13, updated_at = $14 \
             WHERE id = $15 AND updated_at = $16 RETURNING person_id",
        )
        .bind(&u.family_kanji)
        .bind(&u.given_kanji)
        .bind(&u.family_kana)
        .bind(&u.given_kana)
        .bind(to_json(&u.previous_names))
        .bind(&u.birth_date)
        .bind(u.sex.code())
        .bind(&u.postal_code)
        .bind(&u.address)
        .bind(to_json(&u.phones))
        .bind(to_json(&u.insurance_numbers))
        .bind(u.care_level.code())
        .bind(search_text_of(&u.family_kanji, &u.given_kanji, &u.family_kana, &u.given_kana, &u.previous_names, &u.birth_date, &local_id))
        .bind(u.updated_at)
        .bind(&u.record_id)
        .bind(u.expected_updated_at)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err("updating registration"))?;
        let Some(person_id) = person_id else {
            return Err(StoreError::InvalidState(format!("patient record {} changed since it was read", u.record_id)));
        };
        // Match keys are recomputed by the caller from the new values: the old ones go.
        sqlx::query("DELETE FROM patient_block_keys WHERE record_id = $1")
            .bind(&u.record_id)
            .execute(&mut *tx)
            .await
            .map_err(err("replacing match keys"))?;
        insert_block_keys(&mut tx, &u.record_id, &u.block_keys).await?;
        let mut audit = audit;
        audit.patient_id = Some(person_id);
        append_audit_in(&mut tx, audit, u.updated_at).await?;
        let row = sqlx::query(&format!("SELECT {PATIENT_COLUMNS} FROM patient_records WHERE id = $1"))
            .bind(&u.record_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("reading registration"))?;
        let stored = patient_from_row(&row)?;
        tx.commit().await.map_err(err("committing registration update"))?;
        Ok(stored)
    }

    async fn p_candidates(&self, block_keys: &[i64], limit: i64) -> StoreResult<Vec<PatientRecord>> {
        if block_keys.is_empty() {
            return Ok(vec![]);
        }
        let cols: String = PATIENT_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ");
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {cols} FROM patient_records p WHERE p.id IN (SELECT record_id FROM patient_block_keys WHERE block_key IN ("
        ));
        let mut sep = qb.separated(", ");
        for k in block_keys {
            sep.push_bind(*k);
        }
        qb.push(")) ORDER BY p.created_at LIMIT ").push_bind(limit.clamp(1, 10_000));
        let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("finding candidates"))?;
        rows.iter().map(patient_from_row).collect()
    }

    async fn p_resolve_person(&self, person_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT id, merged_into FROM persons WHERE id = $1")
            .bind(person_id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading person"))?;
        let Some(row) = row else { return Ok(None) };
        let merged: Option<String> = row.try_get("merged_into").map_err(err("person"))?;
        Ok(Some(merged.unwrap_or_else(|| person_id.to_string())))
    }

    async fn p_person_records(&self, person_id: &str) -> StoreResult<Vec<PatientRecord>> {
        let Some(person) = self.p_resolve_person(person_id).await? else { return Ok(vec![]) };
        let rows = sqlx::query(&format!("SELECT {PATIENT_COLUMNS} FROM patient_records WHERE person_id = $1 ORDER BY created_at, id"))
            .bind(&person)
            .fetch_all(self.read_pool())
            .await
            .map_err(err("reading registrations"))?;
        rows.iter().map(patient_from_row).collect()
    }

    async fn p_team_patients(&self, facility_id: &str, text: Option<&str>, limit: i64) -> StoreResult<Vec<PatientRecord>> {
        let cols: String = PATIENT_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ");
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {cols} FROM patient_records p JOIN care_team_members t ON t.person_id = p.person_id \
             WHERE t.facility_id = "
        ));
        qb.push_bind(facility_id.to_string()).push(" AND t.status = 'active'");
        if let Some(text) = text {
            push_text_terms(&mut qb, "p.search_text", text);
        }
        qb.push(" ORDER BY p.family_kana, p.given_kana, p.created_at LIMIT ").push_bind(limit.clamp(1, 5_000) * 4);
        let rows = qb.build().fetch_all(self.read_pool()).await.map_err(err("listing patients"))?;
        // One row per person, in name order: the facility's own registration when it has
        // one (its own data), otherwise the earliest registration.
        let mut order: Vec<String> = Vec::new();
        let mut chosen: std::collections::HashMap<String, PatientRecord> = std::collections::HashMap::new();
        for row in &rows {
            let r = patient_from_row(row)?;
            match chosen.get(&r.person_id) {
                None => {
                    order.push(r.person_id.clone());
                    chosen.insert(r.person_id.clone(), r);
                }
                Some(existing) if existing.facility_id != facility_id && r.facility_id == facility_id => {
                    chosen.insert(r.person_id.clone(), r);
                }
                Some(_) => {}
            }
        }
        Ok(order.into_iter().take(limit.max(0) as usize).filter_map(|p| chosen.remove(&p)).collect())
    }

    async fn p_find_exact(&self, kana_folded: &str, birth_date: &str, limit: i64) -> StoreResult<Vec<PatientRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {PATIENT_COLUMNS} FROM patient_records WHERE birth_date = $1 AND search_text LIKE $2 ESCAPE '\\' \
             ORDER BY created_at LIMIT $3"
        ))
        .bind(birth_date)
        .bind(like_contains(kana_folded))
        .bind(limit.clamp(1, 100))
        .fetch_all(self.read_pool())
        .await
        .map_err(err("finding patient"))?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for row in &rows {
            let r = patient_from_row(row)?;
            if seen.insert(r.person_id.clone()) {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn p_open_reviews(&self, limit: i64) -> StoreResult<Vec<MatchReview>> {
        let rows = sqlx::query(
            "SELECT id, record_id, candidate_record_id, weight, probability, detail, status, created_at, decided_by, decided_at \
             FROM match_reviews WHERE status = 'open' ORDER BY created_at LIMIT $1",
        )
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading review queue"))?;
        rows.iter()
            .map(|r| {
                let g = |e| backend_error("reading review", e);
                Ok(MatchReview {
                    id: r.try_get("id").map_err(g)?,
                    record_id: r.try_get("record_id").map_err(g)?,
                    candidate_record_id: r.try_get("candidate_record_id").map_err(g)?,
                    weight: r.try_get("weight").map_err(g)?,
                    probability: r.try_get("probability").map_err(g)?,
                    detail: r.try_get("detail").map_err(g)?,
                    status: r.try_get("status").map_err(g)?,
                    created_at: r.try_get("created_at").map_err(g)?,
                    decided_by: r.try_get("decided_by").map_err(g)?,
                    decided_at: r.try_get("decided_at").map_err(g)?,
                })
            })
            .collect()
    }

    async fn p_decide_review(&self, review_id: &str, confirm: bool, by_user: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT record_id, candidate_record_id, status FROM match_reviews WHERE id = $1")
            .bind(review_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("reading review"))?
            .ok_or_else(|| StoreError::NotFound(format!("review {review_id}")))?;
        let status: String = row.try_get("status").map_err(err("review"))?;
        if status != "open" {
            return Err(StoreError::InvalidState(format!("review {review_id} is already {status}")));
        }
        let record_id: String = row.try_get("record_id").map_err(err("review"))?;
        let candidate_id: String = row.try_get("candidate_record_id").map_err(err("review"))?;
        sqlx::query("UPDATE match_reviews SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4")
            .bind(if confirm { "confirmed" } else { "rejected" })
            .bind(by_user)
            .bind(at)
            .bind(review_id)
            .execute(&mut *tx)
            .await
            .map_err(err("deciding review"))?;
        let mut audit = audit;
        if confirm {
            let to: String = sqlx::query_scalar("SELECT person_id FROM patient_records WHERE id = $1")
                .bind(&candidate_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(err("reading candidate"))?;
            let from: String = sqlx::query_scalar("SELECT person_id FROM patient_records WHERE id = $1")
                .bind(&record_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(err("reading record"))?;
            merge_persons(&mut tx, &from, &to, at).await?;
            add_link_event(&mut tx, "merge", Some(&record_id), Some(&from), Some(&to), by_user, at, &format!("{{\"review\":\"{review_id}\"}}")).await?;
            audit.patient_id = Some(to);
        } else {
            // The audit record names the patient whose registration was reviewed.
            let person: String = sqlx::query_scalar("SELECT person_id FROM patient_records WHERE id = $1")
                .bind(&record_id)
                .fetch_one(&mut *tx)
                .await
                .map_err(err("reading record"))?;
            add_link_event(&mut tx, "distinct", Some(&record_id), None, None, by_user, at, &format!("{{\"review\":\"{review_id}\",\"candidate\":\"{candidate_id}\"}}")).await?;
            audit.patient_id = Some(person);
        }
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing review"))
    }

    async fn p_unlink(&self, record_id: &str, new_person_id: &str, by_user: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT person_id, facility_id, is_test FROM patient_records WHERE id = $1")
            .bind(record_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err("reading record"))?
            .ok_or_else(|| StoreError::NotFound(format!("patient record {record_id}")))?;
        let from: String = row.try_get("person_id").map_err(err("record"))?;
        let facility: String = row.try_get("facility_id").map_err(err("record"))?;
        let is_test: bool = row.try_get("is_test").map_err(err("record"))?;
        let others: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM patient_records WHERE person_id = $1 AND id <> $2")
            .bind(&from)
            .bind(record_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("counting records"))?;
        if others == 0 {
            return Err(StoreError::InvalidState("the record is the person's only registration".into()));
        }
        sqlx::query("INSERT INTO persons (id, created_at, merged_into, is_test) VALUES ($1, $2, NULL, $3)")
            .bind(new_person_id)
            .bind(at)
            .bind(is_test)
            .execute(&mut *tx)
            .await
            .map_err(err("creating person"))?;
        sqlx::query("UPDATE patient_records SET person_id = $1, updated_at = $2 WHERE id = $3")
            .bind(new_person_id)
            .bind(at)
            .bind(record_id)
            .execute(&mut *tx)
            .await
            .map_err(err("unlinking record"))?;
        join_team(&mut tx, new_person_id, &facility, at).await?;
        add_link_event(&mut tx, "unlink", Some(record_id), Some(&from), Some(new_person_id), by_user, at, "{}").await?;
        let mut audit = audit;
        audit.patient_id = Some(from);
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing unlink"))
    }

    async fn p_link_history(&self, person_id: &str) -> StoreResult<Vec<LinkEvent>> {
        let rows = sqlx::query(
            "SELECT id, action, record_id, from_person, to_person, by_user, at, detail FROM person_link_history \
             WHERE to_person = $1 OR from_person = $1 ORDER BY at, id",
        )
        .bind(person_id)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading link history"))?;
        rows.iter()
            .map(|r| {
                let g = |e| backend_error("reading link history", e);
                Ok(LinkEvent {
                    id: r.try_get("id").map_err(g)?,
                    action: r.try_get("action").map_err(g)?,
                    record_id: r.try_get("record_id").map_err(g)?,
                    from_person: r.try_get("from_person").map_err(g)?,
                    to_person: r.try_get("to_person").map_err(g)?,
                    by_user: r.try_get("by_user").map_err(g)?,
                    at: r.try_get("at").map_err(g)?,
                    detail: r.try_get("detail").map_err(g)?,
                })
            })
            .collect()
    }

    async fn p_record_consent(&self, c: NewConsent, audit: AuditEntry) -> StoreResult<Consent> {
        let mut tx = self.begin_write().await?;
        insert_consent(&mut tx, &c).await?;
        let mut audit = audit;
        audit.patient_id = Some(c.person_id.clone());
        append_audit_in(&mut tx, audit, c.created_at).await?;
        let row = sqlx::query(&format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = $1"))
            .bind(&c.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("reading consent"))?;
        let stored = consent_from_row(&row)?;
        tx.commit().await.map_err(err("committing consent"))?;
        Ok(stored)
    }

    async fn p_withdraw_consent(&self, id: &str, effective_at: Millis, by_user: &str, reason: &str, audit: AuditEntry) -> StoreResult<Consent> {
        let now = renkei_domain::now_millis();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE consents SET status = 'withdrawn', withdrawn_at = $1, withdrawn_by = $2, withdrawal_reason = $3 \
             WHERE id = $4 AND status = 'active'",
        )
        .bind(effective_at)
        .bind(by_user)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(err("withdrawing consent"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::InvalidState(format!("consent {id} is not active")));
        }
        let row = sqlx::query(&format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err("reading consent"))?;
        let stored = consent_from_row(&row)?;
        let mut audit = audit;
        audit.patient_id = Some(stored.person_id.clone());
        append_audit_in(&mut tx, audit, now).await?;
        tx.commit().await.map_err(err("committing withdrawal"))?;
        Ok(stored)
    }

    async fn p_consents(&self, person_id: &str) -> StoreResult<Vec<Consent>> {
        let person = self.p_resolve_person(person_id).await?.unwrap_or_else(|| person_id.to_string());
        let rows = sqlx::query(&format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE person_id = $1 ORDER BY created_at DESC, id"))
            .bind(person)
            .fetch_all(self.read_pool())
            .await
            .map_err(err("reading consents"))?;
        rows.iter().map(consent_from_row).collect()
    }

    async fn p_get_consent(&self, id: &str) -> StoreResult<Option<Consent>> {
        let row = sqlx::query(&format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.read_pool())
            .await
            .map_err(err("reading consent"))?;
        row.as_ref().map(consent_from_row).transpose()
    }

    async fn p_team(&self, person_id: &str) -> StoreResult<Vec<TeamMember>> {
        let person = self.p_resolve_person(person_id).await?.unwrap_or_else(|| person_id.to_string());
        let rows = sqlx::query(
            "SELECT person_id, facility_id, status, invited_by_facility, invited_by_user, note, created_at, updated_at \
             FROM care_team_members WHERE person_id = $1 ORDER BY created_at, facility_id",
        )
        .bind(person)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading care team"))?;
        rows.iter().map(team_from_row).collect()
    }

    async fn p_team_status(&self, person_id: &str, facility_id: &str) -> StoreResult<Option<TeamStatus>> {
        let status: Option<String> = sqlx::query_scalar(
            "SELECT t.status FROM care_team_members t JOIN persons p ON p.id = $1 \
             WHERE t.person_id = COALESCE(p.merged_into, p.id) AND t.facility_id = $2",
        )
        .bind(person_id)
        .bind(facility_id)
        .fetch_optional(self.read_pool())
        .await
        .map_err(err("reading team status"))?;
        status.map(|s| TeamStatus::from_code(&s).ok_or_else(|| corrupt("team status", &s))).transpose()
    }

    #[allow(clippy::too_many_arguments)]
    async fn p_invite(&self, person_id: &str, facility_id: &str, by_facility: &str, by_user: &str, note: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let invitation = TeamInvitation {
            person_id: person_id.to_string(),
            facility_id: facility_id.to_string(),
            by_facility: by_facility.to_string(),
            by_user: by_user.to_string(),
            note: note.to_string(),
            at,
            audit,
        };
        match invite_in(&mut tx, invitation).await? {
            InviteOutcome::Invited => {}
            InviteOutcome::AlreadyActive => return Err(StoreError::InvalidState("the facility is already in the care team".into())),
            InviteOutcome::AlreadyInvited => return Err(StoreError::InvalidState("the facility is already invited".into())),
        }
        tx.commit().await.map_err(err("committing invitation"))
    }

    async fn p_respond(&self, person_id: &str, facility_id: &str, accept: bool, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE care_team_members SET status = $1, updated_at = $2 WHERE person_id = $3 AND facility_id = $4 AND status = 'invited'")
            .bind(if accept { "active" } else { "declined" })
            .bind(at)
            .bind(person_id)
            .bind(facility_id)
            .execute(&mut *tx)
            .await
            .map_err(err("answering invitation"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::InvalidState("no open invitation".into()));
        }
        let mut audit = audit;
        audit.patient_id = Some(person_id.to_string());
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing answer"))
    }

    async fn p_leave(&self, person_id: &str, facility_id: &str, at: Millis, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE care_team_members SET status = 'left', updated_at = $1 WHERE person_id = $2 AND facility_id = $3 AND status = 'active'")
            .bind(at)
            .bind(person_id)
            .bind(facility_id)
            .execute(&mut *tx)
            .await
            .map_err(err("leaving team"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::InvalidState("the facility is not an active member".into()));
        }
        let mut audit = audit;
        audit.patient_id = Some(person_id.to_string());
        append_audit_in(&mut tx, audit, at).await?;
        tx.commit().await.map_err(err("committing departure"))
    }

    async fn p_invitations(&self, facility_id: &str) -> StoreResult<Vec<(TeamMember, PatientRecord)>> {
        let rows = sqlx::query(
            "SELECT person_id, facility_id, status, invited_by_facility, invited_by_user, note, created_at, updated_at \
             FROM care_team_members WHERE facility_id = $1 AND status = 'invited' ORDER BY updated_at DESC",
        )
        .bind(facility_id)
        .fetch_all(self.read_pool())
        .await
        .map_err(err("reading invitations"))?;
        let mut out = Vec::new();
        for row in &rows {
            let member = team_from_row(row)?;
            if let Some(record) = self.p_person_records(&member.person_id).await?.into_iter().next() {
                out.push((member, record));
            }
        }
        Ok(out)
    }

    async fn p_start_break_glass(&self, e: BreakGlassEvent, audit: AuditEntry) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO break_glass (id, person_id, user_id, facility_id, reason, started_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&e.id)
            .bind(&e.person_id)
            .bind(&e.user_id)
            .bind(&e.facility_id)
            .bind(&e.reason)
            .bind(e.started_at)
            .bind(e.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(err("recording break-glass"))?;
        let team: Vec<String> = sqlx::query_scalar("SELECT facility_id FROM care_team_members WHERE person_id = $1 AND status = 'active'")
            .bind(&e.person_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(err("reading team"))?;
        let body = serde_json::json!({ "break_glass_id": e.id, "user_id": e.user_id, "facility_id": e.facility_id, "reason": e.reason }).to_string();
        for facility in team {
            sqlx::query("INSERT INTO team_notices (id, facility_id, person_id, kind, body, created_at, read_at) VALUES ($1, $2, $3, 'break_glass', $4, $5, NULL)")
                .bind(renkei_domain::ids::new_id())
                .bind(&facility)
                .bind(&e.person_id)
                .bind(&body)
                .bind(e.started_at)
                .execute(&mut *tx)
                .await
                .map_err(err("notifying team"))?;
            // And every active member of it, in the inbox.
            sqlx::query(
                "INSERT INTO notifications (id, user_id, kind, person_id, actor_user_id, actor_facility_id, source_id, link, created_at, read_at) \
                 SELECT $1 || m.user_id, m.user_id, 'break_glass', $2, $3, $4, $5, $6, $7, NULL \
                 FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.facility_id = $8 AND m.active = TRUE AND u.active = TRUE AND u.id <> $3",
            )
            .bind(format!("{}-", renkei_domain::ids::new_id()))
            .bind(&e.person_id)
            .bind(&e.user_id)
            .bind(&e.facility_id)
            .bind(&e.id)
            .bind(format!("/patients/{}", e.person_id))
            .bind(e.started_at)
            .bind(&facility)
            .execute(&mut *tx)
            .await
            .map_err(err("notifying team members"))?;
        }
        let mut audit = audit;
        audit.patient_id = Some(e.person_id.clone());
        append_audit_in(&mut tx, audit, e.started_at).await?;
        tx.commit().await.map_err(err("committing break-glass"))
    }

    async fn p_active_break_glass(&self, user_id: &str, person_id: &str, now: Millis) -> StoreResult<Option<BreakGlassEvent>> {
        let row = sqlx::query(
            "SELECT id, person_id, user_id, facility_id, reason, started_at, expires_at FROM break_glass \
             WHERE user_id = $1 AND person_id = $2 AND expires_at > $3 ORDER BY expires_at DESC LIMIT 1",
        )
        .bind(user_id)
        .bind(person_id)
        .bind(now)
        .fetch_optional(self.read_pool())
        .await
        .map_err(err("reading break-glass"))?;
        row.as_ref().map(break_glass_from_row).transpose()
    }

    async fn p_list_break_glass(&self, limit: i64) -> StoreResult<Vec<BreakGlassEvent>> {
        let rows = sqlx::query("SELECT id, person_id, user_id, facility_id, reason, started_at, expires_at FROM break_glass ORDER BY started_at DESC LIMIT $1")
            .bind(limit.clamp(1, 10_000))
            .fetch_all(self.read_pool())
            .await
            .map_err(err("listing break-glass"))?;
        rows.iter().map(break_glass_from_row).collect()
    }

    async fn p_team_notices(&self, facility_id: &str, limit: i64) -> StoreResult<Vec<TeamNotice>> {
        let rows = sqlx::query("SELECT id, facility_id, person_id, kind, body, created_at, read_at FROM team_notices WHERE facility_id = $1 ORDER BY created_at DESC LIMIT $2")
            .bind(facility_id)
            .bind(limit.clamp(1, 1000))
            .fetch_all(self.read_pool())
            .await
            .map_err(err("reading notices"))?;
        rows.iter()
            .map(|r| {
                let g = |e| backend_error("reading notice", e);
                Ok(TeamNotice {
                    id: r.try_get("id").map_err(g)?,
                    facility_id: r.try_get("facility_id").map_err(g)?,
                    person_id: r.try_get("person_id").map_err(g)?,
                    kind: r.try_get("kind").map_err(g)?,
                    body: r.try_get("body").map_err(g)?,
                    created_at: r.try_get("created_at").map_err(g)?,
                    read_at: r.try_get("read_at").map_err(g)?,
                })
            })
            .collect()
    }
}

/// What [`invite_in`] found and did.
enum InviteOutcome {
    Invited,
    AlreadyActive,
    AlreadyInvited,
}

/// Invites a facility to a person's care team inside the caller's transaction: the member
/// row, a notification for every active member of the invited facility and the audit record.
/// Writes nothing when the facility is already an active member or invited.
async fn invite_in(conn: &mut Conn, invitation: TeamInvitation) -> Result<InviteOutcome, StoreError> {
    let TeamInvitation { person_id, facility_id, by_facility, by_user, note, at, audit } = invitation;
    let current: Option<String> = sqlx::query_scalar("SELECT status FROM care_team_members WHERE person_id = $1 AND facility_id = $2")
        .bind(&person_id)
        .bind(&facility_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(err("reading team"))?;
    match current.as_deref() {
        Some("active") => return Ok(InviteOutcome::AlreadyActive),
        Some("invited") => return Ok(InviteOutcome::AlreadyInvited),
        _ => {}
    }
    sqlx::query(
        "INSERT INTO care_team_members (person_id, facility_id, status, invited_by_facility, invited_by_user, note, created_at, updated_at) \
         VALUES ($1, $2, 'invited', $3, $4, $5, $6, $6) ON CONFLICT (person_id, facility_id) DO UPDATE SET \
         status = 'invited', invited_by_facility = excluded.invited_by_facility, invited_by_user = excluded.invited_by_user, \
         note = excluded.note, updated_at = excluded.updated_at",
    )
    .bind(&person_id)
    .bind(&facility_id)
    .bind(&by_facility)
    .bind(&by_user)
    .bind(&note)
    .bind(at)
    .execute(&mut *conn)
    .await
    .map_err(err("inviting facility"))?;
    // Every active member of the invited facility hears of it (the inbox).
    sqlx::query(
        "INSERT INTO notifications (id, user_id, kind, person_id, actor_user_id, actor_facility_id, source_id, link, created_at, read_at) \
         SELECT $1 || m.user_id, m.user_id, 'team_invitation', $2, $3, $4, NULL, '/invitations', $5, NULL \
         FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.facility_id = $6 AND m.active = TRUE AND u.active = TRUE AND u.id <> $3",
    )
    .bind(format!("{}-", renkei_domain::ids::new_id()))
    .bind(&person_id)
    .bind(&by_user)
    .bind(&by_facility)
    .bind(at)
    .bind(&facility_id)
    .execute(&mut *conn)
    .await
    .map_err(err("notifying invited facility"))?;
    let mut audit = audit;
    audit.patient_id = Some(person_id);
    append_audit_in(conn, audit, at).await?;
    Ok(InviteOutcome::Invited)
}
