-- The in-app inbox: one row per recipient and cause (a mention, a reply, an urgent post…).
-- Written in the transaction of what causes it; carries ids and a link, never post text.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    person_id TEXT,
    actor_user_id TEXT,
    actor_facility_id TEXT,
    source_id TEXT,
    link TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
-- The inbox page, newest first.
CREATE INDEX notifications_user ON notifications (user_id, created_at);
-- The badge on every page counts only unread rows.
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;
-- A timeline view marks the notifications of the posts it showed read.
CREATE INDEX notifications_source ON notifications (source_id, user_id);

-- Who wants an e-mail (a link to the inbox, nothing else) about new notifications.
CREATE TABLE notification_prefs (
    user_id TEXT PRIMARY KEY,
    email BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL
);
