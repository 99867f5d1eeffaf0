-- Progress of collectors (renkei collect ssmix2): one row per processed file.
CREATE TABLE ingest_files (
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    processed_at BIGINT NOT NULL,
    PRIMARY KEY (source, path)
);
