-- Patients: persons (the master patient index), facility-local registrations, match keys,
-- the review queue, link history, consent, care teams, break-glass and team notices.

CREATE TABLE persons (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    merged_into TEXT,
    is_test BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE patient_records (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons (id),
    facility_id TEXT NOT NULL REFERENCES facilities (id),
    id_system TEXT NOT NULL,
    local_id TEXT NOT NULL,
    family_kanji TEXT NOT NULL,
    given_kanji TEXT NOT NULL,
    family_kana TEXT NOT NULL,
    given_kana TEXT NOT NULL,
    previous_names TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    address TEXT NOT NULL,
    phones TEXT NOT NULL,
    insurance_numbers TEXT NOT NULL,
    care_level TEXT NOT NULL,
    search_text TEXT NOT NULL,
    is_test BOOLEAN NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (facility_id, id_system, local_id)
);
CREATE INDEX patient_records_person ON patient_records (person_id);

CREATE TABLE patient_block_keys (
    record_id TEXT NOT NULL REFERENCES patient_records (id),
    block_key BIGINT NOT NULL,
    PRIMARY KEY (block_key, record_id)
);

CREATE TABLE match_reviews (
    id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL REFERENCES patient_records (id),
    candidate_record_id TEXT NOT NULL REFERENCES patient_records (id),
    weight DOUBLE PRECISION NOT NULL,
    probability DOUBLE PRECISION NOT NULL,
    detail TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_by TEXT,
    decided_at BIGINT
);
CREATE INDEX match_reviews_status ON match_reviews (status, created_at);

CREATE TABLE person_link_history (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    record_id TEXT,
    from_person TEXT,
    to_person TEXT,
    by_user TEXT NOT NULL,
    at BIGINT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX person_link_history_person ON person_link_history (to_person);

CREATE TABLE consents (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons (id),
    status TEXT NOT NULL,
    scope TEXT NOT NULL,
    facilities TEXT NOT NULL,
    excluded TEXT NOT NULL,
    form TEXT NOT NULL,
    signer TEXT NOT NULL,
    proxy_name TEXT NOT NULL,
    proxy_relationship TEXT NOT NULL,
    family_participation BOOLEAN NOT NULL,
    family_note TEXT NOT NULL,
    obtained_by TEXT NOT NULL,
    obtained_facility_id TEXT NOT NULL,
    obtained_at BIGINT NOT NULL,
    place TEXT NOT NULL,
    card_number TEXT NOT NULL,
    withdrawn_at BIGINT,
    withdrawn_by TEXT,
    withdrawal_reason TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX consents_one_active ON consents (person_id) WHERE status = 'active';
CREATE INDEX consents_person ON consents (person_id, created_at);

CREATE TABLE care_team_members (
    person_id TEXT NOT NULL REFERENCES persons (id),
    facility_id TEXT NOT NULL REFERENCES facilities (id),
    status TEXT NOT NULL,
    invited_by_facility TEXT,
    invited_by_user TEXT,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, facility_id)
);
CREATE INDEX care_team_facility ON care_team_members (facility_id, status);

CREATE TABLE break_glass (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES persons (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    facility_id TEXT NOT NULL REFERENCES facilities (id),
    reason TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX break_glass_user ON break_glass (user_id, person_id, expires_at);
CREATE INDEX break_glass_started ON break_glass (started_at);

CREATE TABLE team_notices (
    id TEXT PRIMARY KEY,
    facility_id TEXT NOT NULL REFERENCES facilities (id),
    person_id TEXT NOT NULL REFERENCES persons (id),
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX team_notices_facility ON team_notices (facility_id, created_at);
