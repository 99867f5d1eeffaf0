-- The signed consent form (同意書), scanned or photographed, kept with the consent.
CREATE TABLE consent_attachments (
    consent_id TEXT PRIMARY KEY REFERENCES consents (id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    uploaded_by TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL
);
