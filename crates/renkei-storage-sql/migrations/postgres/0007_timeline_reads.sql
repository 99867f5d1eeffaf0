-- Read receipts of the care-team timeline: who has seen which post (a FHIR Communication,
-- by id) and when they first saw it. Bookkeeping of an audited page view, not clinical data.
CREATE TABLE timeline_reads (
    post_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (post_id, user_id)
);
-- A user's unread count probes (post, user) through the primary key; this one lists what a
-- user has read.
CREATE INDEX timeline_reads_user ON timeline_reads (user_id, read_at);
