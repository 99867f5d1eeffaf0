-- Notices (周知事項) from the secretariat to the network or from a facility administrator to
-- the facility's staff, who read them, and the discussion board (掲示板). No patient data.
CREATE TABLE notices (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    facility_id TEXT,
    author_user_id TEXT NOT NULL,
    author_facility_id TEXT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    importance TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    edited_at BIGINT,
    withdrawn_at BIGINT,
    withdrawn_by TEXT
);
-- A reader's list: network notices and those of the reader's facilities, newest first.
CREATE INDEX notices_scope ON notices (scope, facility_id, published_at);

-- Who opened which notice (bookkeeping of the reader's own view; no audit record).
CREATE TABLE notice_reads (
    notice_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (notice_id, user_id)
);
CREATE INDEX notice_reads_user ON notice_reads (user_id);

CREATE TABLE board_topics (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    sort_order BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE board_threads (
    id TEXT PRIMARY KEY,
    topic_id TEXT NOT NULL REFERENCES board_topics (id),
    title TEXT NOT NULL,
    author_user_id TEXT NOT NULL,
    author_facility_id TEXT,
    created_at BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL
);
-- A topic's threads by last activity.
CREATE INDEX board_threads_topic ON board_threads (topic_id, last_activity_at);

CREATE TABLE board_posts (
    id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL REFERENCES board_threads (id),
    opening BOOLEAN NOT NULL,
    author_user_id TEXT NOT NULL,
    author_facility_id TEXT,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    edited_at BIGINT,
    withdrawn_at BIGINT,
    hidden_at BIGINT,
    hidden_by TEXT,
    hidden_reason TEXT
);
CREATE INDEX board_posts_thread ON board_posts (thread_id, created_at);

-- Earlier texts of edited posts: an edit never loses what was written.
CREATE TABLE board_post_versions (
    post_id TEXT NOT NULL REFERENCES board_posts (id),
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    written_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, version)
);
