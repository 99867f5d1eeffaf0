-- Foundation schema: settings, facilities, users, memberships, sessions, readiness survey,
-- and the hash-chained audit log. Times are Unix milliseconds (UTC) in BIGINT columns.

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE facilities (
    id TEXT PRIMARY KEY,
    code TEXT UNIQUE,
    code_no BIGINT UNIQUE,
    facility_type TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    legal_entity TEXT NOT NULL,
    name TEXT NOT NULL,
    name_kana TEXT NOT NULL,
    official_id TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    address TEXT NOT NULL,
    area TEXT NOT NULL,
    tel TEXT NOT NULL,
    fax TEXT NOT NULL,
    email TEXT NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_email TEXT NOT NULL,
    admin_name TEXT NOT NULL,
    admin_login_id TEXT NOT NULL,
    admin_email TEXT NOT NULL,
    professions TEXT NOT NULL,
    search_text TEXT NOT NULL,
    applied_at BIGINT NOT NULL,
    decided_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX facilities_status_type ON facilities (status, facility_type);
CREATE INDEX facilities_category ON facilities (category, status);
CREATE INDEX facilities_area ON facilities (area);
-- One open application per official number: a second one is refused.
CREATE UNIQUE INDEX facilities_official_id_open ON facilities (official_id)
    WHERE official_id <> '' AND status IN ('pending', 'active', 'suspended');

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    login_id TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    display_name_kana TEXT NOT NULL,
    email TEXT NOT NULL,
    profession TEXT NOT NULL,
    is_secretariat BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL,
    password_hash TEXT,
    totp_secret TEXT,
    totp_last_step BIGINT,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    setup_token_hash TEXT UNIQUE,
    setup_expires_at BIGINT,
    lang TEXT,
    search_text TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT
);

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id),
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users (id),
    facility_id TEXT NOT NULL REFERENCES facilities (id),
    role TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    PRIMARY KEY (user_id, facility_id)
);
CREATE INDEX memberships_facility ON memberships (facility_id);

CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    second_factor_done BOOLEAN NOT NULL,
    csrf_token TEXT NOT NULL,
    facility_id TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

CREATE TABLE readiness_surveys (
    facility_id TEXT PRIMARY KEY REFERENCES facilities (id),
    system_kind TEXT NOT NULL,
    vendor TEXT NOT NULL,
    product TEXT NOT NULL,
    ssmix2_export TEXT NOT NULL,
    hl7_fhir_capable TEXT NOT NULL,
    network_line TEXT NOT NULL,
    devices TEXT NOT NULL,
    it_staff TEXT NOT NULL,
    notes TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor_user_id TEXT,
    actor_login TEXT,
    actor_facility_id TEXT,
    target_type TEXT,
    target_id TEXT,
    patient_id TEXT,
    ip TEXT,
    user_agent TEXT,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_at ON audit_log (at);
CREATE INDEX audit_actor ON audit_log (actor_login);
CREATE INDEX audit_facility ON audit_log (actor_facility_id);
CREATE INDEX audit_patient ON audit_log (patient_id);

-- The last sealed record, kept apart so that deleting records from the end is detected.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

-- seq 0 means an empty chain; the row always exists so it can be locked.
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Append-only: the application never updates or deletes audit records.
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
