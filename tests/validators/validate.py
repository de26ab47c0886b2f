"""Independent checks of what Huimin serves, run by the Rust tests.

    validate.py fhir FILE...      each file a FHIR R4 resource or Bundle (fhir.resources 6.1.0,
                                  strict R4 4.0.1; every bundle entry is also checked on its own)
    validate.py openapi FILE      an OpenAPI 3 document (openapi-spec-validator)

Prints one line per problem and exits 1 if there is any.
"""
import json
import sys


# fhir.resources 6.1.0 checks every element's type and the required primitive elements, but not
# required complex elements (Claim.insurance, ExplanationOfBenefit.insurer…) nor required
# bindings: those of the resources Huimin emits are checked here, as the R4 (4.0.1) spec lists them.
REQUIRED = {
    "Coverage": ["status", "beneficiary", "payor"],
    "Condition": ["subject"],
    "Encounter": ["status", "class"],
    "Claim": ["status", "type", "use", "patient", "created", "provider", "priority", "insurance"],
    "ExplanationOfBenefit": ["status", "type", "use", "patient", "created", "insurer", "provider", "outcome", "insurance"],
    "CarePlan": ["status", "intent", "subject"],
    "Bundle": ["type"],
    "CapabilityStatement": ["status", "date", "kind", "fhirVersion", "format"],
}
CODES = {
    ("Patient", "gender"): {"male", "female", "other", "unknown"},
    ("Coverage", "status"): {"active", "cancelled", "draft", "entered-in-error"},
    ("Encounter", "status"): {"planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled", "entered-in-error", "unknown"},
    ("Claim", "status"): {"active", "cancelled", "draft", "entered-in-error"},
    ("Claim", "use"): {"claim", "preauthorization", "predetermination"},
    ("ExplanationOfBenefit", "status"): {"active", "cancelled", "draft", "entered-in-error"},
    ("ExplanationOfBenefit", "use"): {"claim", "preauthorization", "predetermination"},
    ("ExplanationOfBenefit", "outcome"): {"queued", "complete", "error", "partial"},
    ("CarePlan", "status"): {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"},
    ("CarePlan", "intent"): {"proposal", "plan", "order", "option"},
    ("Bundle", "type"): {"document", "message", "transaction", "transaction-response", "batch", "batch-response", "history", "searchset", "collection"},
}
ACTIVITY_STATUS = {"not-started", "scheduled", "in-progress", "on-hold", "completed", "cancelled", "stopped", "unknown", "entered-in-error"}


def spec_problems(r):
    t = r.get("resourceType")
    out = [f"missing required {t}.{e}" for e in REQUIRED.get(t, []) if r.get(e) in (None, [], {})]
    for (rt, element), allowed in CODES.items():
        if rt == t and element in r and r[element] not in allowed:
            out.append(f"{t}.{element} = {r[element]!r} is not in its required value set")
    if t == "ExplanationOfBenefit" or t == "Claim":
        out += [f"{t}.insurance without focal/coverage" for i in r.get("insurance", []) if "focal" not in i or "coverage" not in i]
    if t == "CarePlan":
        out += [f"CarePlan.activity.detail.status {a['detail'].get('status')!r}" for a in r.get("activity", []) if a.get("detail", {}).get("status") not in ACTIVITY_STATUS]
    return out


def check_fhir(paths):
    from fhir.resources import get_fhir_model_class

    problems = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        resources = [data] + [e["resource"] for e in data.get("entry", [])] if data.get("resourceType") == "Bundle" else [data]
        for r in resources:
            try:
                get_fhir_model_class(r["resourceType"]).parse_obj(r)
            except Exception as e:  # noqa: BLE001 - report every kind of failure
                problems.append(f"{path}: {r.get('resourceType')}/{r.get('id')}: {e}")
            problems += [f"{path}: {r.get('resourceType')}/{r.get('id')}: {p}" for p in spec_problems(r)]
    return problems


def check_openapi(path):
    from openapi_spec_validator import validate

    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    try:
        validate(spec)
        return []
    except Exception as e:  # noqa: BLE001
        return [f"{path}: {e}"]


def main():
    kind, paths = sys.argv[1], sys.argv[2:]
    problems = check_fhir(paths) if kind == "fhir" else check_openapi(paths[0])
    for p in problems:
        print(p)
    print(f"{kind}: {len(paths)} file(s), {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
