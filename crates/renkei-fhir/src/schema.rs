//! The FHIR R4 element definitions validation knows: every top-level element of each
//! supported type (so unknown ones are refused), cardinalities, required bindings of codes,
//! and the data types. Backbone elements list the children that are checked; data types are
//! closed (unknown properties refused) except the few marked [`Ty::Open`].

/// A data type (or a backbone element).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    String,
    Markdown,
    /// A `code`; a non-empty list is its required value set.
    Code(&'static [&'static str]),
    Id,
    Uri,
    Url,
    Canonical,
    Boolean,
    Integer,
    PositiveInt,
    UnsignedInt,
    Decimal,
    Date,
    DateTime,
    Instant,
    Time,
    Base64,
    Xhtml,
    Coding,
    CodeableConcept,
    /// A CodeableConcept with a required binding: it must carry a coding of `system` with
    /// one of the codes.
    BoundConcept(&'static str, &'static [&'static str]),
    Identifier,
    /// A Reference; a non-empty list restricts the types a relative reference may name.
    Reference(&'static [&'static str]),
    Period,
    Quantity,
    Range,
    Ratio,
    HumanName,
    ContactPoint,
    Address,
    Attachment,
    Annotation,
    Meta,
    Narrative,
    Extension,
    /// A complex type checked only for being a JSON object (Timing, Dosage, Signature…).
    Open,
    /// A backbone element with the children listed (others are allowed, unchecked).
    Backbone(&'static [El]),
    /// A contained resource.
    Resource,
    /// A choice element `name[x]`: (suffix, type) pairs.
    Choice(&'static [(&'static str, Ty)]),
}

impl Ty {
    /// Whether the JSON value is a primitive (string, number or boolean).
    pub(crate) fn is_primitive(self) -> bool {
        matches!(
            self,
            Ty::String
                | Ty::Markdown
                | Ty::Code(_)
                | Ty::Id
                | Ty::Uri
                | Ty::Url
                | Ty::Canonical
                | Ty::Boolean
                | Ty::Integer
                | Ty::PositiveInt
                | Ty::UnsignedInt
                | Ty::Decimal
                | Ty::Date
                | Ty::DateTime
                | Ty::Instant
                | Ty::Time
                | Ty::Base64
                | Ty::Xhtml
        )
    }
}

/// An element: name (the base name for a choice), type, minimum and whether repeating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct El {
    pub name: &'static str,
    pub ty: Ty,
    pub min: u8,
    pub many: bool,
}

const fn e(name: &'static str, ty: Ty) -> El {
    El {
        name,
        ty,
        min: 0,
        many: false,
    }
}
const fn req(name: &'static str, ty: Ty) -> El {
    El {
        name,
        ty,
        min: 1,
        many: false,
    }
}
const fn m(name: &'static str, ty: Ty) -> El {
    El {
        name,
        ty,
        min: 0,
        many: true,
    }
}
const fn req_m(name: &'static str, ty: Ty) -> El {
    El {
        name,
        ty,
        min: 1,
        many: true,
    }
}

const ANY: Ty = Ty::Reference(&[]);
const CC: Ty = Ty::CodeableConcept;
const fn r(targets: &'static [&'static str]) -> Ty {
    Ty::Reference(targets)
}
const fn code(values: &'static [&'static str]) -> Ty {
    Ty::Code(values)
}
const fn bb(children: &'static [El]) -> Ty {
    Ty::Backbone(children)
}

// ---- value sets (required bindings) ----

pub(crate) const GENDER: &[&str] = &["male", "female", "other", "unknown"];
pub(crate) const OBSERVATION_STATUS: &[&str] = &[
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
];
const CONDITION_CLINICAL: &[&str] = &[
    "active",
    "recurrence",
    "relapse",
    "inactive",
    "remission",
    "resolved",
];
const CONDITION_VERIFICATION: &[&str] = &[
    "unconfirmed",
    "provisional",
    "differential",
    "confirmed",
    "refuted",
    "entered-in-error",
];
const ALLERGY_CLINICAL: &[&str] = &["active", "inactive", "resolved"];
const ALLERGY_VERIFICATION: &[&str] = &["unconfirmed", "confirmed", "refuted", "entered-in-error"];
const MEDICATION_REQUEST_STATUS: &[&str] = &[
    "active",
    "on-hold",
    "cancelled",
    "completed",
    "entered-in-error",
    "stopped",
    "draft",
    "unknown",
];
const MEDICATION_REQUEST_INTENT: &[&str] = &[
    "proposal",
    "plan",
    "order",
    "original-order",
    "reflex-order",
    "filler-order",
    "instance-order",
    "option",
];
const REQUEST_PRIORITY: &[&str] = &["routine", "urgent", "asap", "stat"];
const MEDICATION_DISPENSE_STATUS: &[&str] = &[
    "preparation",
    "in-progress",
    "cancelled",
    "on-hold",
    "completed",
    "entered-in-error",
    "stopped",
    "declined",
    "unknown",
];
const MEDICATION_ADMINISTRATION_STATUS: &[&str] = &[
    "in-progress",
    "not-done",
    "on-hold",
    "completed",
    "entered-in-error",
    "stopped",
    "unknown",
];
const ENCOUNTER_STATUS: &[&str] = &[
    "planned",
    "arrived",
    "triaged",
    "in-progress",
    "onleave",
    "finished",
    "cancelled",
    "entered-in-error",
    "unknown",
];
const ENCOUNTER_LOCATION_STATUS: &[&str] = &["planned", "active", "reserved", "completed"];
const DIAGNOSTIC_REPORT_STATUS: &[&str] = &[
    "registered",
    "partial",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "appended",
    "cancelled",
    "entered-in-error",
    "unknown",
];
const EVENT_STATUS: &[&str] = &[
    "preparation",
    "in-progress",
    "not-done",
    "on-hold",
    "stopped",
    "completed",
    "entered-in-error",
    "unknown",
];
const IMAGING_STUDY_STATUS: &[&str] = &[
    "registered",
    "available",
    "cancelled",
    "entered-in-error",
    "unknown",
];
const DOCUMENT_REFERENCE_STATUS: &[&str] = &["current", "superseded", "entered-in-error"];
const COMPOSITION_STATUS: &[&str] = &["preliminary", "final", "amended", "entered-in-error"];
const DOCUMENT_RELATIONSHIP: &[&str] = &["replaces", "transforms", "signs", "appends"];
const CARE_PLAN_STATUS: &[&str] = &[
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
];
const CARE_PLAN_INTENT: &[&str] = &["proposal", "plan", "order", "option"];
const GOAL_STATUS: &[&str] = &[
    "proposed",
    "planned",
    "accepted",
    "active",
    "on-hold",
    "completed",
    "cancelled",
    "entered-in-error",
    "rejected",
];
const CONSENT_STATUS: &[&str] = &[
    "draft",
    "proposed",
    "active",
    "rejected",
    "inactive",
    "entered-in-error",
];
const CONSENT_PROVISION_TYPE: &[&str] = &["deny", "permit"];
const PROVENANCE_ENTITY_ROLE: &[&str] =
    &["derivation", "revision", "quotation", "source", "removal"];
const AUDIT_ACTION: &[&str] = &["C", "R", "U", "D", "E"];
const AUDIT_OUTCOME: &[&str] = &["0", "4", "8", "12"];
const LINK_TYPE: &[&str] = &["replaced-by", "replaces", "refer", "seealso"];
const ALLERGY_TYPE: &[&str] = &["allergy", "intolerance"];
const ALLERGY_CATEGORY: &[&str] = &["food", "medication", "environment", "biologic"];
const ALLERGY_CRITICALITY: &[&str] = &["low", "high", "unable-to-assess"];
const REACTION_SEVERITY: &[&str] = &["mild", "moderate", "severe"];
const DAYS_OF_WEEK: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

pub(crate) const IDENTIFIER_USE: &[&str] = &["usual", "official", "temp", "secondary", "old"];
pub(crate) const NAME_USE: &[&str] = &[
    "usual",
    "official",
    "temp",
    "nickname",
    "anonymous",
    "old",
    "maiden",
];
pub(crate) const CONTACT_SYSTEM: &[&str] =
    &["phone", "fax", "email", "pager", "url", "sms", "other"];
pub(crate) const CONTACT_USE: &[&str] = &["home", "work", "temp", "old", "mobile"];
pub(crate) const ADDRESS_USE: &[&str] = &["home", "work", "temp", "old", "billing"];
pub(crate) const ADDRESS_TYPE: &[&str] = &["postal", "physical", "both"];
pub(crate) const QUANTITY_COMPARATOR: &[&str] = &["<", "<=", ">=", ">"];
pub(crate) const NARRATIVE_STATUS: &[&str] = &["generated", "extensions", "additional", "empty"];

pub(crate) const CONDITION_CLINICAL_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-clinical";
pub(crate) const CONDITION_VERIFICATION_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-ver-status";
pub(crate) const ALLERGY_CLINICAL_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
pub(crate) const ALLERGY_VERIFICATION_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";

// ---- data types (closed) ----

pub(crate) static CODING: &[El] = &[
    e("system", Ty::Uri),
    e("version", Ty::String),
    e("code", code(&[])),
    e("display", Ty::String),
    e("userSelected", Ty::Boolean),
];
pub(crate) static CODEABLE_CONCEPT: &[El] = &[m("coding", Ty::Coding), e("text", Ty::String)];
pub(crate) static IDENTIFIER: &[El] = &[
    e("use", code(IDENTIFIER_USE)),
    e("type", CC),
    e("system", Ty::Uri),
    e("value", Ty::String),
    e("period", Ty::Period),
    e("assigner", r(&["Organization"])),
];
pub(crate) static REFERENCE: &[El] = &[
    e("reference", Ty::String),
    e("type", Ty::Uri),
    e("identifier", Ty::Identifier),
    e("display", Ty::String),
];
pub(crate) static PERIOD: &[El] = &[e("start", Ty::DateTime), e("end", Ty::DateTime)];
pub(crate) static QUANTITY: &[El] = &[
    e("value", Ty::Decimal),
    e("comparator", code(QUANTITY_COMPARATOR)),
    e("unit", Ty::String),
    e("system", Ty::Uri),
    e("code", code(&[])),
];
pub(crate) static RANGE: &[El] = &[e("low", Ty::Quantity), e("high", Ty::Quantity)];
pub(crate) static RATIO: &[El] = &[e("numerator", Ty::Quantity), e("denominator", Ty::Quantity)];
pub(crate) static HUMAN_NAME: &[El] = &[
    e("use", code(NAME_USE)),
    e("text", Ty::String),
    e("family", Ty::String),
    m("given", Ty::String),
    m("prefix", Ty::String),
    m("suffix", Ty::String),
    e("period", Ty::Period),
];
pub(crate) static CONTACT_POINT: &[El] = &[
    e("system", code(CONTACT_SYSTEM)),
    e("value", Ty::String),
    e("use", code(CONTACT_USE)),
    e("rank", Ty::PositiveInt),
    e("period", Ty::Period),
];
pub(crate) static ADDRESS: &[El] = &[
    e("use", code(ADDRESS_USE)),
    e("type", code(ADDRESS_TYPE)),
    e("text", Ty::String),
    m("line", Ty::String),
    e("city", Ty::String),
    e("district", Ty::String),
    e("state", Ty::String),
    e("postalCode", Ty::String),
    e("country", Ty::String),
    e("period", Ty::Period),
];
pub(crate) static ATTACHMENT: &[El] = &[
    e("contentType", code(&[])),
    e("language", code(&[])),
    e("data", Ty::Base64),
    e("url", Ty::Url),
    e("size", Ty::UnsignedInt),
    e("hash", Ty::Base64),
    e("title", Ty::String),
    e("creation", Ty::DateTime),
];
pub(crate) static ANNOTATION: &[El] = &[
    e(
        "author",
        Ty::Choice(&[
            (
                "Reference",
                r(&["Practitioner", "Patient", "RelatedPerson", "Organization"]),
            ),
            ("String", Ty::String),
        ]),
    ),
    e("time", Ty::DateTime),
    req("text", Ty::Markdown),
];
pub(crate) static META: &[El] = &[
    e("versionId", Ty::Id),
    e("lastUpdated", Ty::Instant),
    e("source", Ty::Uri),
    m("profile", Ty::Canonical),
    m("security", Ty::Coding),
    m("tag", Ty::Coding),
];
pub(crate) static NARRATIVE: &[El] =
    &[req("status", code(NARRATIVE_STATUS)), req("div", Ty::Xhtml)];

// ---- shared choices ----

const ONSET: Ty = Ty::Choice(&[
    ("DateTime", Ty::DateTime),
    ("Age", Ty::Quantity),
    ("Period", Ty::Period),
    ("Range", Ty::Range),
    ("String", Ty::String),
]);
const MEDICATION: Ty = Ty::Choice(&[("CodeableConcept", CC), ("Reference", r(&["Medication"]))]);
const OBS_VALUE: Ty = Ty::Choice(&[
    ("Quantity", Ty::Quantity),
    ("CodeableConcept", CC),
    ("String", Ty::String),
    ("Boolean", Ty::Boolean),
    ("Integer", Ty::Integer),
    ("Range", Ty::Range),
    ("Ratio", Ty::Ratio),
    ("SampledData", Ty::Open),
    ("Time", Ty::Time),
    ("DateTime", Ty::DateTime),
    ("Period", Ty::Period),
]);
const PERFORMER_ACTOR: Ty = bb(&[e("function", CC), req("actor", ANY)]);
const COMMUNICATION_LANG: Ty = bb(&[req("language", CC), e("preferred", Ty::Boolean)]);
const REFERENCE_RANGE: Ty = bb(&[
    e("low", Ty::Quantity),
    e("high", Ty::Quantity),
    e("type", CC),
    m("appliesTo", CC),
    e("age", Ty::Range),
    e("text", Ty::String),
]);

// ---- resources ----

/// Elements every DomainResource has.
pub(crate) static DOMAIN_RESOURCE: &[El] = &[
    e("id", Ty::Id),
    e("meta", Ty::Meta),
    e("implicitRules", Ty::Uri),
    e("language", code(&[])),
    e("text", Ty::Narrative),
    m("contained", Ty::Resource),
    m("extension", Ty::Extension),
    m("modifierExtension", Ty::Extension),
];

/// Elements of Binary (a Resource, not a DomainResource).
pub(crate) static BINARY: &[El] = &[
    e("id", Ty::Id),
    e("meta", Ty::Meta),
    e("implicitRules", Ty::Uri),
    e("language", code(&[])),
    req("contentType", code(&[])),
    e("securityContext", ANY),
    e("data", Ty::Base64),
];

static PATIENT: &[El] = &[
    m("identifier", Ty::Identifier),
    e("active", Ty::Boolean),
    m("name", Ty::HumanName),
    m("telecom", Ty::ContactPoint),
    e("gender", code(GENDER)),
    e("birthDate", Ty::Date),
    e(
        "deceased",
        Ty::Choice(&[("Boolean", Ty::Boolean), ("DateTime", Ty::DateTime)]),
    ),
    m("address", Ty::Address),
    e("maritalStatus", CC),
    e(
        "multipleBirth",
        Ty::Choice(&[("Boolean", Ty::Boolean), ("Integer", Ty::Integer)]),
    ),
    m("photo", Ty::Attachment),
    m(
        "contact",
        bb(&[
            m("relationship", CC),
            e("name", Ty::HumanName),
            m("telecom", Ty::ContactPoint),
            e("address", Ty::Address),
            e("gender", code(GENDER)),
            e("organization", r(&["Organization"])),
            e("period", Ty::Period),
        ]),
    ),
    m("communication", COMMUNICATION_LANG),
    m(
        "generalPractitioner",
        r(&["Organization", "Practitioner", "PractitionerRole"]),
    ),
    e("managingOrganization", r(&["Organization"])),
    m(
        "link",
        bb(&[
            req("other", r(&["Patient", "RelatedPerson"])),
            req("type", code(LINK_TYPE)),
        ]),
    ),
];

static ORGANIZATION: &[El] = &[
    m("identifier", Ty::Identifier),
    e("active", Ty::Boolean),
    m("type", CC),
    e("name", Ty::String),
    m("alias", Ty::String),
    m("telecom", Ty::ContactPoint),
    m("address", Ty::Address),
    e("partOf", r(&["Organization"])),
    m(
        "contact",
        bb(&[
            e("purpose", CC),
            e("name", Ty::HumanName),
            m("telecom", Ty::ContactPoint),
            e("address", Ty::Address),
        ]),
    ),
    m("endpoint", r(&["Endpoint"])),
];

static PRACTITIONER: &[El] = &[
    m("identifier", Ty::Identifier),
    e("active", Ty::Boolean),
    m("name", Ty::HumanName),
    m("telecom", Ty::ContactPoint),
    m("address", Ty::Address),
    e("gender", code(GENDER)),
    e("birthDate", Ty::Date),
    m("photo", Ty::Attachment),
    m(
        "qualification",
        bb(&[
            m("identifier", Ty::Identifier),
            req("code", CC),
            e("period", Ty::Period),
            e("issuer", r(&["Organization"])),
        ]),
    ),
    m("communication", CC),
];

static PRACTITIONER_ROLE: &[El] = &[
    m("identifier", Ty::Identifier),
    e("active", Ty::Boolean),
    e("period", Ty::Period),
    e("practitioner", r(&["Practitioner"])),
    e("organization", r(&["Organization"])),
    m("code", CC),
    m("specialty", CC),
    m("location", r(&["Location"])),
    m("healthcareService", r(&["HealthcareService"])),
    m("telecom", Ty::ContactPoint),
    m(
        "availableTime",
        bb(&[
            m("daysOfWeek", code(DAYS_OF_WEEK)),
            e("allDay", Ty::Boolean),
            e("availableStartTime", Ty::Time),
            e("availableEndTime", Ty::Time),
        ]),
    ),
    m(
        "notAvailable",
        bb(&[req("description", Ty::String), e("during", Ty::Period)]),
    ),
    e("availabilityExceptions", Ty::String),
    m("endpoint", r(&["Endpoint"])),
];

static ENCOUNTER: &[El] = &[
    m("identifier", Ty::Identifier),
    req("status", code(ENCOUNTER_STATUS)),
    m(
        "statusHistory",
        bb(&[
            req("status", code(ENCOUNTER_STATUS)),
            req("period", Ty::Period),
        ]),
    ),
    req("class", Ty::Coding),
    m(
        "classHistory",
        bb(&[req("class", Ty::Coding), req("period", Ty::Period)]),
    ),
    m("type", CC),
    e("serviceType", CC),
    e("priority", CC),
    e("subject", r(&["Patient", "Group"])),
    m("episodeOfCare", r(&["EpisodeOfCare"])),
    m("basedOn", r(&["ServiceRequest"])),
    m(
        "participant",
        bb(&[
            m("type", CC),
            e("period", Ty::Period),
            e(
                "individual",
                r(&["Practitioner", "PractitionerRole", "RelatedPerson"]),
            ),
        ]),
    ),
    m("appointment", r(&["Appointment"])),
    e("period", Ty::Period),
    e("length", Ty::Quantity),
    m("reasonCode", CC),
    m("reasonReference", ANY),
    m(
        "diagnosis",
        bb(&[
            req("condition", r(&["Condition", "Procedure"])),
            e("use", CC),
            e("rank", Ty::PositiveInt),
        ]),
    ),
    m("account", r(&["Account"])),
    e("hospitalization", Ty::Open),
    m(
        "location",
        bb(&[
            req("location", r(&["Location"])),
            e("status", code(ENCOUNTER_LOCATION_STATUS)),
            e("physicalType", CC),
            e("period", Ty::Period),
        ]),
    ),
    e("serviceProvider", r(&["Organization"])),
    e("partOf", r(&["Encounter"])),
];

static CONDITION: &[El] = &[
    m("identifier", Ty::Identifier),
    e(
        "clinicalStatus",
        Ty::BoundConcept(CONDITION_CLINICAL_SYSTEM, CONDITION_CLINICAL),
    ),
    e(
        "verificationStatus",
        Ty::BoundConcept(CONDITION_VERIFICATION_SYSTEM, CONDITION_VERIFICATION),
    ),
    m("category", CC),
    e("severity", CC),
    e("code", CC),
    m("bodySite", CC),
    req("subject", r(&["Patient", "Group"])),
    e("encounter", r(&["Encounter"])),
    e("onset", ONSET),
    e("abatement", ONSET),
    e("recordedDate", Ty::DateTime),
    e("recorder", ANY),
    e("asserter", ANY),
    m(
        "stage",
        bb(&[e("summary", CC), m("assessment", ANY), e("type", CC)]),
    ),
    m("evidence", bb(&[m("code", CC), m("detail", ANY)])),
    m("note", Ty::Annotation),
];

static ALLERGY_INTOLERANCE: &[El] = &[
    m("identifier", Ty::Identifier),
    e(
        "clinicalStatus",
        Ty::BoundConcept(ALLERGY_CLINICAL_SYSTEM, ALLERGY_CLINICAL),
    ),
    e(
        "verificationStatus",
        Ty::BoundConcept(ALLERGY_VERIFICATION_SYSTEM, ALLERGY_VERIFICATION),
    ),
    e("type", code(ALLERGY_TYPE)),
    m("category", code(ALLERGY_CATEGORY)),
    e("criticality", code(ALLERGY_CRITICALITY)),
    e("code", CC),
    req("patient", r(&["Patient"])),
    e("encounter", r(&["Encounter"])),
    e("onset", ONSET),
    e("recordedDate", Ty::DateTime),
    e("recorder", ANY),
    e("asserter", ANY),
    e("lastOccurrence", Ty::DateTime),
    m("note", Ty::Annotation),
    m(
        "reaction",
        bb(&[
            e("substance", CC),
            req_m("manifestation", CC),
            e("description", Ty::String),
            e("onset", Ty::DateTime),
            e("severity", code(REACTION_SEVERITY)),
            e("exposureRoute", CC),
            m("note", Ty::Annotation),
        ]),
    ),
];

static MEDICATION_REQUEST: &[El] = &[
    m("identifier", Ty::Identifier),
    req("status", code(MEDICATION_REQUEST_STATUS)),
    e("statusReason", CC),
    req("intent", code(MEDICATION_REQUEST_INTENT)),
    m("category", CC),
    e("priority", code(REQUEST_PRIORITY)),
    e("doNotPerform", Ty::Boolean),
    e(
        "reported",
        Ty::Choice(&[("Boolean", Ty::Boolean), ("Reference", ANY)]),
    ),
    req("medication", MEDICATION),
    req("subject", r(&["Patient", "Group"])),
    e("encounter", r(&["Encounter"])),
    m("supportingInformation", ANY),
    e("authoredOn", Ty::DateTime),
    e("requester", ANY),
    e("performer", ANY),
    e("performerType", CC),
    e("recorder", ANY),
    m("reasonCode", CC),
    m("reasonReference", ANY),
    m("instantiatesCanonical", Ty::Canonical),
    m("instantiatesUri", Ty::Uri),
    m("basedOn", ANY),
    e("groupIdentifier", Ty::Identifier),
    e("courseOfTherapyType", CC),
    m("insurance", ANY),
    m("note", Ty::Annotation),
    m("dosageInstruction", Ty::Open),
    e("dispenseRequest", Ty::Open),
    e("substitution", Ty::Open),
    e("priorPrescription", r(&["MedicationRequest"])),
    m("detectedIssue", ANY),
    m("eventHistory", r(&["Provenance"])),
];

static MEDICATION_DISPENSE: &[El] = &[
    m("identifier", Ty::Identifier),
    m("partOf", ANY),
    req("status", code(MEDICATION_DISPENSE_STATUS)),
    e(
        "statusReason",
        Ty::Choice(&[("CodeableConcept", CC), ("Reference", ANY)]),
    ),
    e("category", CC),
    req("medication", MEDICATION),
    e("subject", r(&["Patient", "Group"])),
    e("context", r(&["Encounter", "EpisodeOfCare"])),
    m("supportingInformation", ANY),
    m("performer", PERFORMER_ACTOR),
    e("location", r(&["Location"])),
    m("authorizingPrescription", r(&["MedicationRequest"])),
    e("type", CC),
    e("quantity", Ty::Quantity),
    e("daysSupply", Ty::Quantity),
    e("whenPrepared", Ty::DateTime),
    e("whenHandedOver", Ty::DateTime),
    e("destination", r(&["Location"])),
    m("receiver", ANY),
    m("note", Ty::Annotation),
    m("dosageInstruction", Ty::Open),
    e("substitution", Ty::Open),
    m("detectedIssue", ANY),
    m("eventHistory", r(&["Provenance"])),
];

static MEDICATION_ADMINISTRATION: &[El] = &[
    m("identifier", Ty::Identifier),
    m("instantiates", Ty::Uri),
    m("partOf", ANY),
    req("status", code(MEDICATION_ADMINISTRATION_STATUS)),
    m("statusReason", CC),
    e("category", CC),
    req("medication", MEDICATION),
    req("subject", r(&["Patient", "Group"])),
    e("context", r(&["Encounter", "EpisodeOfCare"])),
    m("supportingInformation", ANY),
    req(
        "effective",
        Ty::Choice(&[("DateTime", Ty::DateTime), ("Period", Ty::Period)]),
    ),
    m("performer", PERFORMER_ACTOR),
    m("reasonCode", CC),
    m("reasonReference", ANY),
    e("request", r(&["MedicationRequest"])),
    m("device", r(&["Device"])),
    m("note", Ty::Annotation),
    e("dosage", Ty::Open),
    m("eventHistory", r(&["Provenance"])),
];

static OBSERVATION: &[El] = &[
    m("identifier", Ty::Identifier),
    m("basedOn", ANY),
    m("partOf", ANY),
    req("status", code(OBSERVATION_STATUS)),
    m("category", CC),
    req("code", CC),
    e("subject", r(&["Patient", "Group", "Device", "Location"])),
    m("focus", ANY),
    e("encounter", r(&["Encounter"])),
    e(
        "effective",
        Ty::Choice(&[
            ("DateTime", Ty::DateTime),
            ("Period", Ty::Period),
            ("Timing", Ty::Open),
            ("Instant", Ty::Instant),
        ]),
    ),
    e("issued", Ty::Instant),
    m("performer", ANY),
    e("value", OBS_VALUE),
    e("dataAbsentReason", CC),
    m("interpretation", CC),
    m("note", Ty::Annotation),
    e("bodySite", CC),
    e("method", CC),
    e("specimen", r(&["Specimen"])),
    e("device", ANY),
    m("referenceRange", REFERENCE_RANGE),
    m("hasMember", ANY),
    m("derivedFrom", ANY),
    m(
        "component",
        bb(&[
            req("code", CC),
            e("value", OBS_VALUE),
            e("dataAbsentReason", CC),
            m("interpretation", CC),
            m("referenceRange", REFERENCE_RANGE),
        ]),
    ),
];

static DIAGNOSTIC_REPORT: &[El] = &[
    m("identifier", Ty::Identifier),
    m("basedOn", ANY),
    req("status", code(DIAGNOSTIC_REPORT_STATUS)),
    m("category", CC),
    req("code", CC),
    e("subject", r(&["Patient", "Group", "Device", "Location"])),
    e("encounter", r(&["Encounter"])),
    e(
        "effective",
        Ty::Choice(&[("DateTime", Ty::DateTime), ("Period", Ty::Period)]),
    ),
    e("issued", Ty::Instant),
    m("performer", ANY),
    m("resultsInterpreter", ANY),
    m("specimen", r(&["Specimen"])),
    m("result", r(&["Observation"])),
    m("imagingStudy", r(&["ImagingStudy"])),
    m(
        "media",
        bb(&[e("comment", Ty::String), req("link", r(&["Media"]))]),
    ),
    e("conclusion", Ty::String),
    m("conclusionCode", CC),
    m("presentedForm", Ty::Attachment),
];

static PROCEDURE: &[El] = &[
    m("identifier", Ty::Identifier),
    m("instantiatesCanonical", Ty::Canonical),
    m("instantiatesUri", Ty::Uri),
    m("basedOn", ANY),
    m("partOf", ANY),
    req("status", code(EVENT_STATUS)),
    e("statusReason", CC),
    e("category", CC),
    e("code", CC),
    req("subject", r(&["Patient", "Group"])),
    e("encounter", r(&["Encounter"])),
    e(
        "performed",
        Ty::Choice(&[
            ("DateTime", Ty::DateTime),
            ("Period", Ty::Period),
            ("String", Ty::String),
            ("Age", Ty::Quantity),
            ("Range", Ty::Range),
        ]),
    ),
    e("recorder", ANY),
    e("asserter", ANY),
    m(
        "performer",
        bb(&[
            e("function", CC),
            req("actor", ANY),
            e("onBehalfOf", r(&["Organization"])),
        ]),
    ),
    e("location", r(&["Location"])),
    m("reasonCode", CC),
    m("reasonReference", ANY),
    m("bodySite", CC),
    e("outcome", CC),
    m("report", ANY),
    m("complication", CC),
    m("complicationDetail", ANY),
    m("followUp", CC),
    m("note", Ty::Annotation),
    m(
        "focalDevice",
        bb(&[e("action", CC), req("manipulated", r(&["Device"]))]),
    ),
    m("usedReference", ANY),
    m("usedCode", CC),
];

static IMAGING_STUDY: &[El] = &[
    m("identifier", Ty::Identifier),
    req("status", code(IMAGING_STUDY_STATUS)),
    m("modality", Ty::Coding),
    req("subject", r(&["Patient", "Device", "Group"])),
    e("encounter", r(&["Encounter"])),
    e("started", Ty::DateTime),
    m("basedOn", ANY),
    e("referrer", ANY),
    m("interpreter", ANY),
    m("endpoint", r(&["Endpoint"])),
    e("numberOfSeries", Ty::UnsignedInt),
    e("numberOfInstances", Ty::UnsignedInt),
    e("procedureReference", r(&["Procedure"])),
    m("procedureCode", CC),
    e("location", r(&["Location"])),
    m("reasonCode", CC),
    m("reasonReference", ANY),
    m("note", Ty::Annotation),
    e("description", Ty::String),
    m(
        "series",
        bb(&[
            req("uid", Ty::Id),
            e("number", Ty::UnsignedInt),
            req("modality", Ty::Coding),
            e("description", Ty::String),
            e("numberOfInstances", Ty::UnsignedInt),
            m("endpoint", r(&["Endpoint"])),
            e("bodySite", Ty::Coding),
            e("laterality", Ty::Coding),
            m("specimen", r(&["Specimen"])),
            e("started", Ty::DateTime),
            m("performer", PERFORMER_ACTOR),
            m(
                "instance",
                bb(&[
                    req("uid", Ty::Id),
                    req("sopClass", Ty::Coding),
                    e("number", Ty::UnsignedInt),
                    e("title", Ty::String),
                ]),
            ),
        ]),
    ),
];

static DOCUMENT_REFERENCE: &[El] = &[
    e("masterIdentifier", Ty::Identifier),
    m("identifier", Ty::Identifier),
    req("status", code(DOCUMENT_REFERENCE_STATUS)),
    e("docStatus", code(COMPOSITION_STATUS)),
    e("type", CC),
    m("category", CC),
    e(
        "subject",
        r(&["Patient", "Practitioner", "Group", "Device"]),
    ),
    e("date", Ty::Instant),
    m("author", ANY),
    e("authenticator", ANY),
    e("custodian", r(&["Organization"])),
    m(
        "relatesTo",
        bb(&[
            req("code", code(DOCUMENT_RELATIONSHIP)),
            req("target", r(&["DocumentReference"])),
        ]),
    ),
    e("description", Ty::String),
    m("securityLabel", CC),
    req_m(
        "content",
        bb(&[req("attachment", Ty::Attachment), e("format", Ty::Coding)]),
    ),
    e(
        "context",
        bb(&[
            m("encounter", r(&["Encounter", "EpisodeOfCare"])),
            m("event", CC),
            e("period", Ty::Period),
            e("facilityType", CC),
            e("practiceSetting", CC),
            e("sourcePatientInfo", r(&["Patient"])),
            m("related", ANY),
        ]),
    ),
];

static CARE_PLAN: &[El] = &[
    m("identifier", Ty::Identifier),
    m("instantiatesCanonical", Ty::Canonical),
    m("instantiatesUri", Ty::Uri),
    m("basedOn", r(&["CarePlan"])),
    m("replaces", r(&["CarePlan"])),
    m("partOf", r(&["CarePlan"])),
    req("status", code(CARE_PLAN_STATUS)),
    req("intent", code(CARE_PLAN_INTENT)),
    m("category", CC),
    e("title", Ty::String),
    e("description", Ty::String),
    req("subject", r(&["Patient", "Group"])),
    e("encounter", r(&["Encounter"])),
    e("period", Ty::Period),
    e("created", Ty::DateTime),
    e("author", ANY),
    m("contributor", ANY),
    m("careTeam", r(&["CareTeam"])),
    m("addresses", r(&["Condition"])),
    m("supportingInfo", ANY),
    m("goal", r(&["Goal"])),
    m("activity", Ty::Open),
    m("note", Ty::Annotation),
];

static GOAL: &[El] = &[
    m("identifier", Ty::Identifier),
    req("lifecycleStatus", code(GOAL_STATUS)),
    e("achievementStatus", CC),
    m("category", CC),
    e("priority", CC),
    req("description", CC),
    req("subject", r(&["Patient", "Group", "Organization"])),
    e(
        "start",
        Ty::Choice(&[("Date", Ty::Date), ("CodeableConcept", CC)]),
    ),
    m(
        "target",
        bb(&[
            e("measure", CC),
            e(
                "detail",
                Ty::Choice(&[
                    ("Quantity", Ty::Quantity),
                    ("Range", Ty::Range),
                    ("CodeableConcept", CC),
                    ("String", Ty::String),
                    ("Boolean", Ty::Boolean),
                    ("Integer", Ty::Integer),
                    ("Ratio", Ty::Ratio),
                ]),
            ),
            e(
                "due",
                Ty::Choice(&[("Date", Ty::Date), ("Duration", Ty::Quantity)]),
            ),
        ]),
    ),
    e("statusDate", Ty::Date),
    e("statusReason", Ty::String),
    e("expressedBy", ANY),
    m("addresses", ANY),
    m("note", Ty::Annotation),
    m("outcomeCode", CC),
    m("outcomeReference", r(&["Observation"])),
];

static CONSENT: &[El] = &[
    m("identifier", Ty::Identifier),
    req("status", code(CONSENT_STATUS)),
    req("scope", CC),
    req_m("category", CC),
    e("patient", r(&["Patient"])),
    e("dateTime", Ty::DateTime),
    m("performer", ANY),
    m("organization", r(&["Organization"])),
    e(
        "source",
        Ty::Choice(&[("Attachment", Ty::Attachment), ("Reference", ANY)]),
    ),
    m("policy", bb(&[e("authority", Ty::Uri), e("uri", Ty::Uri)])),
    e("policyRule", CC),
    m(
        "verification",
        bb(&[
            req("verified", Ty::Boolean),
            e("verifiedWith", r(&["Patient", "RelatedPerson"])),
            e("verificationDate", Ty::DateTime),
        ]),
    ),
    e(
        "provision",
        bb(&[
            e("type", code(CONSENT_PROVISION_TYPE)),
            e("period", Ty::Period),
            m("actor", bb(&[req("role", CC), req("reference", ANY)])),
            m("action", CC),
            m("securityLabel", Ty::Coding),
            m("purpose", Ty::Coding),
            m("class", Ty::Coding),
            m("code", CC),
            e("dataPeriod", Ty::Period),
            m(
                "data",
                bb(&[
                    req(
                        "meaning",
                        code(&["instance", "related", "dependents", "authoredby"]),
                    ),
                    req("reference", ANY),
                ]),
            ),
            m("provision", Ty::Open),
        ]),
    ),
];

static RELATED_PERSON: &[El] = &[
    m("identifier", Ty::Identifier),
    e("active", Ty::Boolean),
    req("patient", r(&["Patient"])),
    m("relationship", CC),
    m("name", Ty::HumanName),
    m("telecom", Ty::ContactPoint),
    e("gender", code(GENDER)),
    e("birthDate", Ty::Date),
    m("address", Ty::Address),
    m("photo", Ty::Attachment),
    e("period", Ty::Period),
    m("communication", COMMUNICATION_LANG),
];

static PROVENANCE: &[El] = &[
    req_m("target", ANY),
    e(
        "occurred",
        Ty::Choice(&[("Period", Ty::Period), ("DateTime", Ty::DateTime)]),
    ),
    req("recorded", Ty::Instant),
    m("policy", Ty::Uri),
    e("location", r(&["Location"])),
    m("reason", CC),
    e("activity", CC),
    req_m(
        "agent",
        bb(&[
            e("type", CC),
            m("role", CC),
            req("who", ANY),
            e("onBehalfOf", ANY),
        ]),
    ),
    m(
        "entity",
        bb(&[
            req("role", code(PROVENANCE_ENTITY_ROLE)),
            req("what", ANY),
            m("agent", Ty::Open),
        ]),
    ),
    m("signature", Ty::Open),
];

static AUDIT_EVENT: &[El] = &[
    req("type", Ty::Coding),
    m("subtype", Ty::Coding),
    e("action", code(AUDIT_ACTION)),
    e("period", Ty::Period),
    req("recorded", Ty::Instant),
    e("outcome", code(AUDIT_OUTCOME)),
    e("outcomeDesc", Ty::String),
    m("purposeOfEvent", CC),
    req_m(
        "agent",
        bb(&[
            e("type", CC),
            m("role", CC),
            e("who", ANY),
            e("altId", Ty::String),
            e("name", Ty::String),
            req("requestor", Ty::Boolean),
            e("location", r(&["Location"])),
            m("policy", Ty::Uri),
            e("media", Ty::Coding),
            e("network", Ty::Open),
            m("purposeOfUse", CC),
        ]),
    ),
    req(
        "source",
        bb(&[
            e("site", Ty::String),
            req("observer", ANY),
            m("type", Ty::Coding),
        ]),
    ),
    m(
        "entity",
        bb(&[
            e("what", ANY),
            e("type", Ty::Coding),
            e("role", Ty::Coding),
            e("lifecycle", Ty::Coding),
            m("securityLabel", Ty::Coding),
            e("name", Ty::String),
            e("description", Ty::String),
            e("query", Ty::Base64),
            m("detail", Ty::Open),
        ]),
    ),
];

static COMMUNICATION: &[El] = &[
    m("identifier", Ty::Identifier),
    m("instantiatesCanonical", Ty::Canonical),
    m("instantiatesUri", Ty::Uri),
    m("basedOn", ANY),
    m("partOf", ANY),
    m("inResponseTo", r(&["Communication"])),
    req("status", code(EVENT_STATUS)),
    e("statusReason", CC),
    m("category", CC),
    e("priority", code(REQUEST_PRIORITY)),
    m("medium", CC),
    e("subject", r(&["Patient", "Group"])),
    e("topic", CC),
    m("about", ANY),
    e("encounter", r(&["Encounter"])),
    e("sent", Ty::DateTime),
    e("received", Ty::DateTime),
    m("recipient", ANY),
    e("sender", ANY),
    m("reasonCode", CC),
    m("reasonReference", ANY),
    m(
        "payload",
        bb(&[req(
            "content",
            Ty::Choice(&[
                ("String", Ty::String),
                ("Attachment", Ty::Attachment),
                ("Reference", ANY),
            ]),
        )]),
    ),
    m("note", Ty::Annotation),
];

// Renkei's documents (入院時情報提供書, 診療情報提供書…) and the `Composition` of a FHIR
// document Bundle; sections nest, so their content is left open.
static COMPOSITION: &[El] = &[
    e("identifier", Ty::Identifier),
    req("status", code(COMPOSITION_STATUS)),
    req("type", CC),
    m("category", CC),
    e("subject", ANY),
    e("encounter", r(&["Encounter"])),
    req("date", Ty::DateTime),
    req_m("author", ANY),
    req("title", Ty::String),
    e("confidentiality", code(&[])),
    m("attester", Ty::Open),
    e("custodian", r(&["Organization"])),
    m("relatesTo", Ty::Open),
    m("event", Ty::Open),
    m("section", Ty::Open),
];

/// The type-specific top-level elements of `resource_type` (without the DomainResource
/// ones; Binary's list is complete).
pub(crate) fn elements(resource_type: &str) -> Option<&'static [El]> {
    Some(match resource_type {
        "Patient" => PATIENT,
        "Organization" => ORGANIZATION,
        "Practitioner" => PRACTITIONER,
        "PractitionerRole" => PRACTITIONER_ROLE,
        "Encounter" => ENCOUNTER,
        "Condition" => CONDITION,
        "AllergyIntolerance" => ALLERGY_INTOLERANCE,
        "MedicationRequest" => MEDICATION_REQUEST,
        "MedicationDispense" => MEDICATION_DISPENSE,
        "MedicationAdministration" => MEDICATION_ADMINISTRATION,
        "Observation" => OBSERVATION,
        "DiagnosticReport" => DIAGNOSTIC_REPORT,
        "Procedure" => PROCEDURE,
        "ImagingStudy" => IMAGING_STUDY,
        "DocumentReference" => DOCUMENT_REFERENCE,
        "Binary" => BINARY,
        "CarePlan" => CARE_PLAN,
        "Goal" => GOAL,
        "Consent" => CONSENT,
        "RelatedPerson" => RELATED_PERSON,
        "Provenance" => PROVENANCE,
        "AuditEvent" => AUDIT_EVENT,
        "Communication" => COMMUNICATION,
        "Composition" => COMPOSITION,
        _ => return None,
    })
}
