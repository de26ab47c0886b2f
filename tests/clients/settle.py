"""Settles a claim with the Python client that openapi-python-client generated from Huimin's
OpenAPI document (crates/web/tests/clients.rs runs it). Uses only the generated package: its
models, its operations, its typed errors.

    settle.py PACKAGE_PARENT BASE_URL TOKEN PERSON_ID CLAIM_NO

Prints one JSON line of what the client read, for the Rust test to compare with the store.
"""
import datetime
import json
import sys

sys.path.insert(0, sys.argv[1])
from huimin_client import AuthenticatedClient  # noqa: E402
from huimin_client.api.settlement import get_api_settlements_by_no, post_api_settlements, post_api_settlements_by_no_reverse  # noqa: E402
from huimin_client.models import ApiReverse, Bill, ClaimAnswer, ClaimStatus, DisclosedStoredClaim, Problem, ProblemWithAlreadySettled, SettleRequest, VisitType  # noqa: E402

base, token, person_id, claim_no = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
client = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)
request = SettleRequest(
    claim_no=claim_no,
    person_id=person_id,
    visit=VisitType.INPATIENT,
    admission=datetime.date(2024, 6, 1),
    discharge=datetime.date(2024, 6, 8),
    diseases=["I10"],
    cat_a=1_200_000,
    cat_b=300_000,
    out_of_catalogue=80_000,
    necessary=30_000,
)

preview = post_api_settlements.sync(client=client, body=request, preview=True)
assert isinstance(preview, Bill), preview
bill = post_api_settlements.sync(client=client, body=request)
assert isinstance(bill, Bill), bill
assert bill.to_dict() == preview.to_dict(), "the preview is the bill"
assert bill.funds_total + bill.patient_total == bill.total == 1_580_000
assert sum(line.total for line in bill.lines) == bill.funds_total

again = post_api_settlements.sync(client=client, body=request)
assert isinstance(again, ProblemWithAlreadySettled) and again.status == 409 and again.claim_no == claim_no, again

stored = get_api_settlements_by_no.sync(claim_no, client=client)
assert isinstance(stored, ClaimAnswer) and stored.status == ClaimStatus.SETTLED, stored
assert stored.bill.to_dict() == bill.to_dict()
assert [b.layer_id for b in stored.basis] == [line.layer_id for line in bill.lines if line.total > 0]

refused = post_api_settlements_by_no_reverse.sync(claim_no, client=client, body=ApiReverse(reason="x"))
assert isinstance(refused, Problem) and refused.status == 422 and refused.detail, refused
reversed_ = post_api_settlements_by_no_reverse.sync(claim_no, client=client, body=ApiReverse(reason="录入错误，重新结算"))
assert isinstance(reversed_, DisclosedStoredClaim) and reversed_.status == ClaimStatus.REVERSED, reversed_

print(json.dumps({"claim_no": bill.claim_no, "total": bill.total, "funds_total": bill.funds_total, "patient_total": bill.patient_total, "lines": [[line.fund.value, line.total] for line in bill.lines]}))
