-- Documents sent between facilities (入院時情報提供書, 診療情報提供書…): the documents are FHIR
-- Composition resources; a row here says which facility one was sent to and when the
-- receiving facility confirmed receipt. Inserted in the transaction that makes the
-- document final; carries ids only, never document text.
CREATE TABLE document_deliveries (
    id TEXT PRIMARY KEY,
    document_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    from_facility_id TEXT NOT NULL,
    from_user_id TEXT NOT NULL,
    to_facility_id TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    received_at BIGINT,
    received_by TEXT,
    UNIQUE (document_id, to_facility_id)
);
-- A document's page lists where it went.
CREATE INDEX document_deliveries_document ON document_deliveries (document_id);
-- A facility's inbox, newest first.
CREATE INDEX document_deliveries_to ON document_deliveries (to_facility_id, sent_at);
