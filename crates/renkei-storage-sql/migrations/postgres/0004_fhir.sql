-- FHIR resource store: the current version of every resource, every version, and the
-- search index of the current versions (replaced on every write). Times are Unix
-- milliseconds; a date index row covers [low, high), high = 9223372036854775807 when
-- open-ended. Index text is folded by the caller and compared byte-wise (COLLATE "C", like
-- SQLite's BINARY), so equality, prefix ranges and sort order agree across backends.

CREATE TABLE fhir_resources (
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    version_id BIGINT NOT NULL,
    last_updated BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    patient_record_id TEXT REFERENCES patient_records (id),
    source_facility_id TEXT,
    category TEXT NOT NULL,
    content TEXT NOT NULL,
    method TEXT NOT NULL,
    PRIMARY KEY (resource_type, id)
);
CREATE INDEX fhir_resources_patient ON fhir_resources (patient_record_id);
-- Newest first within a type, counted without reading the rows.
CREATE INDEX fhir_resources_updated ON fhir_resources (resource_type, deleted, last_updated, id);

CREATE TABLE fhir_versions (
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    version_id BIGINT NOT NULL,
    last_updated BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    patient_record_id TEXT,
    source_facility_id TEXT,
    category TEXT NOT NULL,
    content TEXT NOT NULL,
    method TEXT NOT NULL,
    PRIMARY KEY (resource_type, id, version_id)
);
CREATE INDEX fhir_versions_updated ON fhir_versions (last_updated);
CREATE INDEX fhir_versions_type_updated ON fhir_versions (resource_type, last_updated);

-- Index tables: the primary key is the search path (type, param, value…, id); the second
-- index finds a resource's own rows (replacement on write, EXISTS probes in searches).
CREATE TABLE fhir_idx_token (
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL,
    system TEXT COLLATE "C" NOT NULL,
    code TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (resource_type, param, code, system, id)
);
CREATE INDEX fhir_idx_token_resource ON fhir_idx_token (resource_type, id, param);

CREATE TABLE fhir_idx_string (
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (resource_type, param, value, id)
);
CREATE INDEX fhir_idx_string_resource ON fhir_idx_string (resource_type, id, param);

CREATE TABLE fhir_idx_date (
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL,
    low BIGINT NOT NULL,
    high BIGINT NOT NULL,
    PRIMARY KEY (resource_type, param, low, high, id)
);
CREATE INDEX fhir_idx_date_high ON fhir_idx_date (resource_type, param, high);
CREATE INDEX fhir_idx_date_resource ON fhir_idx_date (resource_type, id, param);

CREATE TABLE fhir_idx_reference (
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (target, param, resource_type, id)
);
CREATE INDEX fhir_idx_reference_resource ON fhir_idx_reference (resource_type, id, param);

CREATE TABLE fhir_idx_number (
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    system TEXT COLLATE "C" NOT NULL,
    code TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (resource_type, param, value, system, code, id)
);
CREATE INDEX fhir_idx_number_resource ON fhir_idx_number (resource_type, id, param);

CREATE TABLE fhir_idx_uri (
    resource_type TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    param TEXT COLLATE "C" NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (resource_type, param, value, id)
);
CREATE INDEX fhir_idx_uri_resource ON fhir_idx_uri (resource_type, id, param);
