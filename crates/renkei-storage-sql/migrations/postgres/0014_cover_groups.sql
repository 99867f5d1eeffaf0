-- Home-care group cover (在宅医療の当番・連携グループ): on-call groups of clinics and
-- home-visit nursing stations, their members, the rota and the patients each member puts
-- under the group's cover. `access_facts` reads these to grant a covering facility access
-- during its shift (the consent still decides what it sees).
CREATE TABLE cover_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    owner_facility_id TEXT NOT NULL REFERENCES facilities (id),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE cover_group_members (
    group_id TEXT NOT NULL REFERENCES cover_groups (id),
    facility_id TEXT NOT NULL REFERENCES facilities (id),
    status TEXT NOT NULL,
    covers_all BOOLEAN NOT NULL,
    invited_by_user TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, facility_id)
);
CREATE INDEX cover_group_members_facility ON cover_group_members (facility_id, status);

CREATE TABLE cover_shifts (
    id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL REFERENCES cover_groups (id),
    facility_id TEXT NOT NULL REFERENCES facilities (id),
    on_call TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- The access check: shifts of the asking facility under way now.
CREATE INDEX cover_shifts_facility ON cover_shifts (facility_id, ends_at);
CREATE INDEX cover_shifts_group ON cover_shifts (group_id, starts_at);

CREATE TABLE cover_patients (
    group_id TEXT NOT NULL REFERENCES cover_groups (id),
    facility_id TEXT NOT NULL REFERENCES facilities (id),
    person_id TEXT NOT NULL REFERENCES persons (id),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (group_id, facility_id, person_id)
);
CREATE INDEX cover_patients_person ON cover_patients (person_id, group_id);
