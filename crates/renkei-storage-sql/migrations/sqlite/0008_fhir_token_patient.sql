-- Token index rows carry their resource's `patient` reference (`Patient/<id>`, '' for
-- none), so "this patient's observations with this code" reads a handful of rows instead of
-- every observation of the patient or every observation with the code.
ALTER TABLE fhir_idx_token ADD COLUMN patient TEXT NOT NULL DEFAULT '';
UPDATE fhir_idx_token SET patient = COALESCE((
    SELECT MIN(r.target) FROM fhir_idx_reference r
    WHERE r.resource_type = fhir_idx_token.resource_type AND r.id = fhir_idx_token.id
      AND r.param = 'patient' AND r.target LIKE 'Patient/%'
), '');
CREATE INDEX fhir_idx_token_patient ON fhir_idx_token (resource_type, param, patient, code, system);
