-- Tele-ICU. A unit (ICU, HCU…) of a partner facility is watched by a support centre; its
-- beds are what monitors report against (`monitor_key`, the bed in PV1-3). Units and beds
-- are configuration: added, changed and retired without code, never deleted once used.
CREATE TABLE icu_units (
    id TEXT PRIMARY KEY,
    facility_id TEXT NOT NULL REFERENCES facilities(id),
    centre_facility_id TEXT NOT NULL REFERENCES facilities(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    colour TEXT NOT NULL,
    sampling_seconds BIGINT NOT NULL,
    active BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (facility_id, code)
);
CREATE TABLE icu_beds (
    id TEXT PRIMARY KEY,
    unit_id TEXT NOT NULL REFERENCES icu_units(id),
    facility_id TEXT NOT NULL REFERENCES facilities(id),
    label TEXT NOT NULL,
    monitor_key TEXT NOT NULL,
    position BIGINT NOT NULL,
    active BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (unit_id, label),
    UNIQUE (facility_id, monitor_key)
);
-- A stay: one patient (a registration of the patient index) in one bed, admission to
-- discharge. At most one open stay per bed.
CREATE TABLE icu_stays (
    id TEXT PRIMARY KEY,
    bed_id TEXT NOT NULL REFERENCES icu_beds(id),
    facility_id TEXT NOT NULL REFERENCES facilities(id),
    person_id TEXT NOT NULL,
    record_id TEXT NOT NULL REFERENCES patient_records(id),
    local_id TEXT NOT NULL,
    admitted_at BIGINT NOT NULL,
    admitted_by TEXT NOT NULL,
    details TEXT NOT NULL,
    is_test BOOLEAN NOT NULL,
    discharged_at BIGINT,
    discharged_by TEXT,
    discharge_summary TEXT
);
CREATE UNIQUE INDEX icu_stays_open_bed ON icu_stays (bed_id) WHERE discharged_at IS NULL;
CREATE INDEX icu_stays_person ON icu_stays (person_id, admitted_at);
CREATE INDEX icu_stays_bed ON icu_stays (bed_id, admitted_at);
-- Every value as received or entered, in the item's canonical unit. The key makes a resent
-- message store nothing twice and serves every trend read as one range.
CREATE TABLE icu_observations (
    stay_id TEXT NOT NULL,
    item TEXT NOT NULL,
    at BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (stay_id, item, at)
);
-- The newest value of each item of a stay: the census reads 500 beds from here without
-- touching months of history.
CREATE TABLE icu_latest (
    stay_id TEXT NOT NULL,
    item TEXT NOT NULL,
    at BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (stay_id, item)
);
-- Hourly summaries kept after raw values pass their retention (downsampling).
CREATE TABLE icu_hourly (
    stay_id TEXT NOT NULL,
    item TEXT NOT NULL,
    hour BIGINT NOT NULL,
    n BIGINT NOT NULL,
    min_value DOUBLE PRECISION NOT NULL,
    max_value DOUBLE PRECISION NOT NULL,
    sum_value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (stay_id, item, hour)
);
-- Messages already stored, by sender and MSH-10: a resend is acknowledged, not stored again.
CREATE TABLE icu_messages (
    facility_id TEXT NOT NULL,
    control_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (facility_id, control_id)
);
CREATE INDEX icu_messages_received ON icu_messages (received_at);
-- Messages that could not be attached to a patient (no admitted patient in the bed, a
-- patient ID that disagrees, unknown bed): kept whole for review, never attached.
CREATE TABLE icu_quarantine (
    id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    facility_id TEXT NOT NULL,
    centre_facility_id TEXT,
    control_id TEXT NOT NULL,
    bed_key TEXT NOT NULL,
    patient_key TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    resolved_at BIGINT,
    resolved_by TEXT,
    resolution TEXT
);
CREATE INDEX icu_quarantine_open ON icu_quarantine (resolved_at, received_at);
-- Alerts: at most one open alert per stay and rule (de-duplication); cleared by hysteresis.
CREATE TABLE icu_alerts (
    id TEXT PRIMARY KEY,
    stay_id TEXT,
    facility_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    severity TEXT NOT NULL,
    audience TEXT NOT NULL,
    text TEXT NOT NULL,
    value DOUBLE PRECISION,
    raised_at BIGINT NOT NULL,
    acked_at BIGINT,
    acked_by TEXT,
    ack_reason TEXT,
    snoozed_until BIGINT,
    cleared_at BIGINT
);
CREATE UNIQUE INDEX icu_alerts_open ON icu_alerts (stay_id, rule) WHERE cleared_at IS NULL;
CREATE INDEX icu_alerts_raised ON icu_alerts (raised_at);
-- Rounds (daily, by intensivist and critical-care nurse) and calls/consults, per stay.
CREATE TABLE icu_rounds (
    id TEXT PRIMARY KEY,
    stay_id TEXT NOT NULL REFERENCES icu_stays(id),
    day TEXT NOT NULL,
    role TEXT NOT NULL,
    by_user TEXT NOT NULL,
    at BIGINT NOT NULL,
    checklist TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX icu_rounds_stay ON icu_rounds (stay_id, at);
CREATE TABLE icu_calls (
    id TEXT PRIMARY KEY,
    stay_id TEXT NOT NULL REFERENCES icu_stays(id),
    direction TEXT NOT NULL,
    reason TEXT NOT NULL,
    advice TEXT NOT NULL,
    outcome TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    closed_by TEXT,
    closed_at BIGINT
);
CREATE INDEX icu_calls_stay ON icu_calls (stay_id, opened_at);
-- Per-source code mapping tables loaded by a site (the built-in defaults live in code).
CREATE TABLE icu_code_maps (
    source TEXT NOT NULL,
    code TEXT NOT NULL,
    item TEXT NOT NULL,
    unit TEXT NOT NULL,
    factor DOUBLE PRECISION NOT NULL,
    offset_value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (source, code, unit)
);
