//! The search parameters of each supported type (FHIR R4 definitions, the subset a clinical
//! network uses). Expressions are FHIRPath as published in R4, restricted to the forms the
//! extractor in [`crate::fhirpath`] evaluates: paths, `|`, `.as(Type)`,
//! `.where(resolve() is Type)` and `.where(system='…')`.

use crate::resource::SearchParamDef;
use crate::search::ParamKind::{self, Date, Quantity, Reference, String, Token};

const fn sp(
    code: &'static str,
    kind: ParamKind,
    expression: &'static str,
    targets: &'static [&'static str],
) -> SearchParamDef {
    SearchParamDef {
        code,
        kind,
        expression,
        targets,
    }
}

const NONE: &[&str] = &[];
const PATIENT: &[&str] = &["Patient"];
const ENCOUNTER: &[&str] = &["Encounter"];
const ORGANIZATION: &[&str] = &["Organization"];
const PRACTITIONER: &[&str] = &["Practitioner"];
const PATIENT_GROUP: &[&str] = &["Patient", "Group"];
const OBS_SUBJECT: &[&str] = &["Patient", "Group", "Device", "Location"];
const ACTORS: &[&str] = &[
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "Patient",
    "RelatedPerson",
    "Device",
];
const CARE_PROVIDERS: &[&str] = &[
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "CareTeam",
    "Patient",
    "RelatedPerson",
];
const COMM_PARTIES: &[&str] = &[
    "Device",
    "Organization",
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "RelatedPerson",
    "HealthcareService",
    "Group",
    "CareTeam",
];

static PATIENT_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Patient.identifier", NONE),
    sp("active", Token, "Patient.active", NONE),
    sp("name", String, "Patient.name", NONE),
    sp("family", String, "Patient.name.family", NONE),
    sp("given", String, "Patient.name.given", NONE),
    sp("birthdate", Date, "Patient.birthDate", NONE),
    sp("gender", Token, "Patient.gender", NONE),
    sp("telecom", Token, "Patient.telecom", NONE),
    sp(
        "phone",
        Token,
        "Patient.telecom.where(system='phone')",
        NONE,
    ),
    sp(
        "email",
        Token,
        "Patient.telecom.where(system='email')",
        NONE,
    ),
    sp("address", String, "Patient.address", NONE),
    sp(
        "address-postalcode",
        String,
        "Patient.address.postalCode",
        NONE,
    ),
    sp("address-city", String, "Patient.address.city", NONE),
    sp("address-state", String, "Patient.address.state", NONE),
    sp(
        "general-practitioner",
        Reference,
        "Patient.generalPractitioner",
        &["Practitioner", "PractitionerRole", "Organization"],
    ),
    sp(
        "organization",
        Reference,
        "Patient.managingOrganization",
        ORGANIZATION,
    ),
];

static ORGANIZATION_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Organization.identifier", NONE),
    sp("active", Token, "Organization.active", NONE),
    sp(
        "name",
        String,
        "Organization.name | Organization.alias",
        NONE,
    ),
    sp("type", Token, "Organization.type", NONE),
    sp("address", String, "Organization.address", NONE),
    sp("partof", Reference, "Organization.partOf", ORGANIZATION),
];

static PRACTITIONER_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Practitioner.identifier", NONE),
    sp("active", Token, "Practitioner.active", NONE),
    sp("name", String, "Practitioner.name", NONE),
    sp("family", String, "Practitioner.name.family", NONE),
    sp("given", String, "Practitioner.name.given", NONE),
    sp("gender", Token, "Practitioner.gender", NONE),
];

static PRACTITIONER_ROLE_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "PractitionerRole.identifier", NONE),
    sp("active", Token, "PractitionerRole.active", NONE),
    sp(
        "practitioner",
        Reference,
        "PractitionerRole.practitioner",
        PRACTITIONER,
    ),
    sp(
        "organization",
        Reference,
        "PractitionerRole.organization",
        ORGANIZATION,
    ),
    sp("role", Token, "PractitionerRole.code", NONE),
    sp("specialty", Token, "PractitionerRole.specialty", NONE),
];

static ENCOUNTER_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Encounter.identifier", NONE),
    sp("status", Token, "Encounter.status", NONE),
    sp("class", Token, "Encounter.class", NONE),
    sp("type", Token, "Encounter.type", NONE),
    sp("date", Date, "Encounter.period", NONE),
    sp(
        "patient",
        Reference,
        "Encounter.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp("subject", Reference, "Encounter.subject", PATIENT_GROUP),
    sp(
        "practitioner",
        Reference,
        "Encounter.participant.individual.where(resolve() is Practitioner)",
        PRACTITIONER,
    ),
    sp(
        "service-provider",
        Reference,
        "Encounter.serviceProvider",
        ORGANIZATION,
    ),
];

static CONDITION_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Condition.identifier", NONE),
    sp("code", Token, "Condition.code", NONE),
    sp("clinical-status", Token, "Condition.clinicalStatus", NONE),
    sp(
        "verification-status",
        Token,
        "Condition.verificationStatus",
        NONE,
    ),
    sp("category", Token, "Condition.category", NONE),
    sp("severity", Token, "Condition.severity", NONE),
    sp(
        "onset-date",
        Date,
        "Condition.onset.as(dateTime) | Condition.onset.as(Period)",
        NONE,
    ),
    sp("recorded-date", Date, "Condition.recordedDate", NONE),
    sp(
        "patient",
        Reference,
        "Condition.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp("subject", Reference, "Condition.subject", PATIENT_GROUP),
    sp("encounter", Reference, "Condition.encounter", ENCOUNTER),
];

static ALLERGY_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "AllergyIntolerance.identifier", NONE),
    sp(
        "code",
        Token,
        "AllergyIntolerance.code | AllergyIntolerance.reaction.substance",
        NONE,
    ),
    sp(
        "clinical-status",
        Token,
        "AllergyIntolerance.clinicalStatus",
        NONE,
    ),
    sp(
        "verification-status",
        Token,
        "AllergyIntolerance.verificationStatus",
        NONE,
    ),
    sp("criticality", Token, "AllergyIntolerance.criticality", NONE),
    sp("category", Token, "AllergyIntolerance.category", NONE),
    sp("type", Token, "AllergyIntolerance.type", NONE),
    sp("date", Date, "AllergyIntolerance.recordedDate", NONE),
    sp("patient", Reference, "AllergyIntolerance.patient", PATIENT),
    sp(
        "encounter",
        Reference,
        "AllergyIntolerance.encounter",
        ENCOUNTER,
    ),
];

static MEDICATION_REQUEST_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "MedicationRequest.identifier", NONE),
    sp(
        "code",
        Token,
        "MedicationRequest.medication.as(CodeableConcept)",
        NONE,
    ),
    sp(
        "medication",
        Reference,
        "MedicationRequest.medication.as(Reference)",
        &["Medication"],
    ),
    sp("status", Token, "MedicationRequest.status", NONE),
    sp("intent", Token, "MedicationRequest.intent", NONE),
    sp("category", Token, "MedicationRequest.category", NONE),
    sp("authoredon", Date, "MedicationRequest.authoredOn", NONE),
    sp(
        "patient",
        Reference,
        "MedicationRequest.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp(
        "subject",
        Reference,
        "MedicationRequest.subject",
        PATIENT_GROUP,
    ),
    sp(
        "encounter",
        Reference,
        "MedicationRequest.encounter",
        ENCOUNTER,
    ),
    sp(
        "requester",
        Reference,
        "MedicationRequest.requester",
        ACTORS,
    ),
];

static MEDICATION_DISPENSE_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "MedicationDispense.identifier", NONE),
    sp(
        "code",
        Token,
        "MedicationDispense.medication.as(CodeableConcept)",
        NONE,
    ),
    sp(
        "medication",
        Reference,
        "MedicationDispense.medication.as(Reference)",
        &["Medication"],
    ),
    sp("status", Token, "MedicationDispense.status", NONE),
    sp(
        "patient",
        Reference,
        "MedicationDispense.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp(
        "subject",
        Reference,
        "MedicationDispense.subject",
        PATIENT_GROUP,
    ),
    sp(
        "context",
        Reference,
        "MedicationDispense.context",
        &["Encounter", "EpisodeOfCare"],
    ),
    sp(
        "whenhandedover",
        Date,
        "MedicationDispense.whenHandedOver",
        NONE,
    ),
    sp(
        "whenprepared",
        Date,
        "MedicationDispense.whenPrepared",
        NONE,
    ),
    sp(
        "performer",
        Reference,
        "MedicationDispense.performer.actor",
        ACTORS,
    ),
    sp(
        "prescription",
        Reference,
        "MedicationDispense.authorizingPrescription",
        &["MedicationRequest"],
    ),
];

static MEDICATION_ADMINISTRATION_PARAMS: &[SearchParamDef] = &[
    sp(
        "identifier",
        Token,
        "MedicationAdministration.identifier",
        NONE,
    ),
    sp(
        "code",
        Token,
        "MedicationAdministration.medication.as(CodeableConcept)",
        NONE,
    ),
    sp(
        "medication",
        Reference,
        "MedicationAdministration.medication.as(Reference)",
        &["Medication"],
    ),
    sp("status", Token, "MedicationAdministration.status", NONE),
    sp(
        "patient",
        Reference,
        "MedicationAdministration.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp(
        "subject",
        Reference,
        "MedicationAdministration.subject",
        PATIENT_GROUP,
    ),
    sp(
        "context",
        Reference,
        "MedicationAdministration.context",
        &["Encounter", "EpisodeOfCare"],
    ),
    sp(
        "effective-time",
        Date,
        "MedicationAdministration.effective",
        NONE,
    ),
    sp(
        "performer",
        Reference,
        "MedicationAdministration.performer.actor",
        ACTORS,
    ),
    sp(
        "request",
        Reference,
        "MedicationAdministration.request",
        &["MedicationRequest"],
    ),
];

static OBSERVATION_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Observation.identifier", NONE),
    sp("code", Token, "Observation.code", NONE),
    sp("category", Token, "Observation.category", NONE),
    sp("date", Date, "Observation.effective", NONE),
    sp("status", Token, "Observation.status", NONE),
    sp(
        "value-quantity",
        Quantity,
        "Observation.value.as(Quantity)",
        NONE,
    ),
    sp(
        "value-concept",
        Token,
        "Observation.value.as(CodeableConcept)",
        NONE,
    ),
    sp("value-string", String, "Observation.value.as(string)", NONE),
    sp("component-code", Token, "Observation.component.code", NONE),
    sp(
        "component-value-quantity",
        Quantity,
        "Observation.component.value.as(Quantity)",
        NONE,
    ),
    sp(
        "patient",
        Reference,
        "Observation.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp("subject", Reference, "Observation.subject", OBS_SUBJECT),
    sp("encounter", Reference, "Observation.encounter", ENCOUNTER),
    sp(
        "performer",
        Reference,
        "Observation.performer",
        CARE_PROVIDERS,
    ),
];

static DIAGNOSTIC_REPORT_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "DiagnosticReport.identifier", NONE),
    sp("code", Token, "DiagnosticReport.code", NONE),
    sp("category", Token, "DiagnosticReport.category", NONE),
    sp("date", Date, "DiagnosticReport.effective", NONE),
    sp("issued", Date, "DiagnosticReport.issued", NONE),
    sp("status", Token, "DiagnosticReport.status", NONE),
    sp("conclusion", Token, "DiagnosticReport.conclusionCode", NONE),
    sp(
        "patient",
        Reference,
        "DiagnosticReport.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp(
        "subject",
        Reference,
        "DiagnosticReport.subject",
        OBS_SUBJECT,
    ),
    sp(
        "encounter",
        Reference,
        "DiagnosticReport.encounter",
        ENCOUNTER,
    ),
    sp(
        "result",
        Reference,
        "DiagnosticReport.result",
        &["Observation"],
    ),
    sp(
        "performer",
        Reference,
        "DiagnosticReport.performer",
        &[
            "Practitioner",
            "PractitionerRole",
            "Organization",
            "CareTeam",
        ],
    ),
];

static PROCEDURE_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Procedure.identifier", NONE),
    sp("code", Token, "Procedure.code", NONE),
    sp("category", Token, "Procedure.category", NONE),
    sp("date", Date, "Procedure.performed", NONE),
    sp("status", Token, "Procedure.status", NONE),
    sp(
        "patient",
        Reference,
        "Procedure.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp("subject", Reference, "Procedure.subject", PATIENT_GROUP),
    sp("encounter", Reference, "Procedure.encounter", ENCOUNTER),
    sp("performer", Reference, "Procedure.performer.actor", ACTORS),
];

static IMAGING_STUDY_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "ImagingStudy.identifier", NONE),
    sp("status", Token, "ImagingStudy.status", NONE),
    sp("modality", Token, "ImagingStudy.series.modality", NONE),
    sp("bodysite", Token, "ImagingStudy.series.bodySite", NONE),
    sp("series", Token, "ImagingStudy.series.uid", NONE),
    sp("started", Date, "ImagingStudy.started", NONE),
    sp(
        "patient",
        Reference,
        "ImagingStudy.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp(
        "subject",
        Reference,
        "ImagingStudy.subject",
        &["Patient", "Device", "Group"],
    ),
    sp("encounter", Reference, "ImagingStudy.encounter", ENCOUNTER),
];

static DOCUMENT_REFERENCE_PARAMS: &[SearchParamDef] = &[
    sp(
        "identifier",
        Token,
        "DocumentReference.identifier | DocumentReference.masterIdentifier",
        NONE,
    ),
    sp("type", Token, "DocumentReference.type", NONE),
    sp("category", Token, "DocumentReference.category", NONE),
    sp("date", Date, "DocumentReference.date", NONE),
    sp("period", Date, "DocumentReference.context.period", NONE),
    sp("status", Token, "DocumentReference.status", NONE),
    sp(
        "contenttype",
        Token,
        "DocumentReference.content.attachment.contentType",
        NONE,
    ),
    sp(
        "patient",
        Reference,
        "DocumentReference.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp(
        "subject",
        Reference,
        "DocumentReference.subject",
        &["Patient", "Practitioner", "Group", "Device"],
    ),
    sp("author", Reference, "DocumentReference.author", ACTORS),
    sp(
        "encounter",
        Reference,
        "DocumentReference.context.encounter",
        &["Encounter", "EpisodeOfCare"],
    ),
];

static CARE_PLAN_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "CarePlan.identifier", NONE),
    sp("status", Token, "CarePlan.status", NONE),
    sp("intent", Token, "CarePlan.intent", NONE),
    sp("category", Token, "CarePlan.category", NONE),
    sp("date", Date, "CarePlan.period", NONE),
    sp(
        "patient",
        Reference,
        "CarePlan.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp("subject", Reference, "CarePlan.subject", PATIENT_GROUP),
    sp("encounter", Reference, "CarePlan.encounter", ENCOUNTER),
];

static GOAL_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Goal.identifier", NONE),
    sp("lifecycle-status", Token, "Goal.lifecycleStatus", NONE),
    sp("achievement-status", Token, "Goal.achievementStatus", NONE),
    sp("category", Token, "Goal.category", NONE),
    sp("target-date", Date, "Goal.target.due.as(date)", NONE),
    sp("start-date", Date, "Goal.start.as(date)", NONE),
    sp(
        "patient",
        Reference,
        "Goal.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp(
        "subject",
        Reference,
        "Goal.subject",
        &["Patient", "Group", "Organization"],
    ),
];

static CONSENT_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Consent.identifier", NONE),
    sp("status", Token, "Consent.status", NONE),
    sp("scope", Token, "Consent.scope", NONE),
    sp("category", Token, "Consent.category", NONE),
    sp("date", Date, "Consent.dateTime", NONE),
    sp("period", Date, "Consent.provision.period", NONE),
    sp("action", Token, "Consent.provision.action", NONE),
    sp("patient", Reference, "Consent.patient", PATIENT),
    sp(
        "organization",
        Reference,
        "Consent.organization",
        ORGANIZATION,
    ),
];

static RELATED_PERSON_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "RelatedPerson.identifier", NONE),
    sp("active", Token, "RelatedPerson.active", NONE),
    sp("patient", Reference, "RelatedPerson.patient", PATIENT),
    sp("name", String, "RelatedPerson.name", NONE),
    sp("relationship", Token, "RelatedPerson.relationship", NONE),
    sp("gender", Token, "RelatedPerson.gender", NONE),
    sp("telecom", Token, "RelatedPerson.telecom", NONE),
    sp(
        "phone",
        Token,
        "RelatedPerson.telecom.where(system='phone')",
        NONE,
    ),
];

static PROVENANCE_PARAMS: &[SearchParamDef] = &[
    sp("target", Reference, "Provenance.target", NONE),
    sp(
        "patient",
        Reference,
        "Provenance.target.where(resolve() is Patient)",
        PATIENT,
    ),
    sp("agent", Reference, "Provenance.agent.who", ACTORS),
    sp("agent-type", Token, "Provenance.agent.type", NONE),
    sp("entity", Reference, "Provenance.entity.what", NONE),
    sp("recorded", Date, "Provenance.recorded", NONE),
    sp("when", Date, "Provenance.occurred.as(dateTime)", NONE),
];

static AUDIT_EVENT_PARAMS: &[SearchParamDef] = &[
    sp("date", Date, "AuditEvent.recorded", NONE),
    sp("type", Token, "AuditEvent.type", NONE),
    sp("subtype", Token, "AuditEvent.subtype", NONE),
    sp("action", Token, "AuditEvent.action", NONE),
    sp("outcome", Token, "AuditEvent.outcome", NONE),
    sp("agent", Reference, "AuditEvent.agent.who", ACTORS),
    sp("entity", Reference, "AuditEvent.entity.what", NONE),
    sp(
        "patient",
        Reference,
        "AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)",
        PATIENT,
    ),
    sp("source", Reference, "AuditEvent.source.observer", NONE),
];

static COMPOSITION_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Composition.identifier", NONE),
    sp("status", Token, "Composition.status", NONE),
    sp("type", Token, "Composition.type", NONE),
    sp("category", Token, "Composition.category", NONE),
    sp("date", Date, "Composition.date", NONE),
    sp("title", String, "Composition.title", NONE),
    sp(
        "patient",
        Reference,
        "Composition.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp("subject", Reference, "Composition.subject", NONE),
    sp("encounter", Reference, "Composition.encounter", ENCOUNTER),
    sp("author", Reference, "Composition.author", ACTORS),
];

static COMMUNICATION_PARAMS: &[SearchParamDef] = &[
    sp("identifier", Token, "Communication.identifier", NONE),
    sp("status", Token, "Communication.status", NONE),
    sp("category", Token, "Communication.category", NONE),
    sp(
        "patient",
        Reference,
        "Communication.subject.where(resolve() is Patient)",
        PATIENT,
    ),
    sp("subject", Reference, "Communication.subject", PATIENT_GROUP),
    sp("encounter", Reference, "Communication.encounter", ENCOUNTER),
    sp("sender", Reference, "Communication.sender", COMM_PARTIES),
    sp(
        "recipient",
        Reference,
        "Communication.recipient",
        COMM_PARTIES,
    ),
    sp("sent", Date, "Communication.sent", NONE),
    sp("received", Date, "Communication.received", NONE),
    // Not an R4 search parameter: Renkei's timeline pages its posts without their replies
    // (`in-response-to:missing=true`) and fetches the replies of a page of posts by it.
    sp(
        "in-response-to",
        Reference,
        "Communication.inResponseTo",
        &["Communication"],
    ),
];

/// The parameters of `resource_type` (empty for Binary and unknown types).
pub(crate) fn of(resource_type: &str) -> &'static [SearchParamDef] {
    match resource_type {
        "Patient" => PATIENT_PARAMS,
        "Organization" => ORGANIZATION_PARAMS,
        "Practitioner" => PRACTITIONER_PARAMS,
        "PractitionerRole" => PRACTITIONER_ROLE_PARAMS,
        "Encounter" => ENCOUNTER_PARAMS,
        "Condition" => CONDITION_PARAMS,
        "AllergyIntolerance" => ALLERGY_PARAMS,
        "MedicationRequest" => MEDICATION_REQUEST_PARAMS,
        "MedicationDispense" => MEDICATION_DISPENSE_PARAMS,
        "MedicationAdministration" => MEDICATION_ADMINISTRATION_PARAMS,
        "Observation" => OBSERVATION_PARAMS,
        "DiagnosticReport" => DIAGNOSTIC_REPORT_PARAMS,
        "Procedure" => PROCEDURE_PARAMS,
        "ImagingStudy" => IMAGING_STUDY_PARAMS,
        "DocumentReference" => DOCUMENT_REFERENCE_PARAMS,
        "CarePlan" => CARE_PLAN_PARAMS,
        "Goal" => GOAL_PARAMS,
        "Consent" => CONSENT_PARAMS,
        "RelatedPerson" => RELATED_PERSON_PARAMS,
        "Provenance" => PROVENANCE_PARAMS,
        "AuditEvent" => AUDIT_EVENT_PARAMS,
        "Communication" => COMMUNICATION_PARAMS,
        "Composition" => COMPOSITION_PARAMS,
        _ => &[],
    }
}

/// One parameter of `resource_type`.
pub(crate) fn find(resource_type: &str, code: &str) -> Option<&'static SearchParamDef> {
    of(resource_type).iter().find(|p| p.code == code)
}
