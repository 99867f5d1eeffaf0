-- Board topics the secretariat edits and archives (閉じる): an archived topic stays readable,
-- listed apart, and takes no new threads or replies until it is reopened.
ALTER TABLE board_topics ADD COLUMN edited_at BIGINT;
ALTER TABLE board_topics ADD COLUMN archived_at BIGINT;
ALTER TABLE board_topics ADD COLUMN archived_by TEXT;
