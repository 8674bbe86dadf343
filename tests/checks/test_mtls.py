"""`mtls`: config contract first, then certificates as `getpeercert()` returns them."""

from __future__ import annotations

from typing import Any

import pytest
from multidict import CIMultiDict
from pydantic import ValidationError

from wardgate.checks.mtls import Config, MtlsCheck, certificate_names
from wardgate.decision import Action
from wardgate.exchange import Exchange, Identity


def _cert(cn: str | None = "svc-a", *sans: tuple[str, str]) -> dict[str, Any]:
    """A verified peer certificate shaped like `ssl.SSLSocket.getpeercert()`."""
    subject: tuple[tuple[tuple[str, str], ...], ...] = ((("organizationName", "Example"),),)
    if cn is not None:
        subject += ((("commonName", cn),),)
    cert: dict[str, Any] = {
        "subject": subject,
        "issuer": ((("commonName", "Example Client CA"),),),
        "version": 3,
        "serialNumber": "0A",
        "notBefore": "Jan  1 00:00:00 2025 GMT",
        "notAfter": "Jan  1 00:00:00 2035 GMT",
    }
    if sans:
        cert["subjectAltName"] = sans
    return cert


IDENTITIES = [
    {"match_subject_cn": "svc-a", "consumer": "service-a", "group": "internal"},
    {"match_san_dns": "Svc-B.internal", "consumer": "service-b", "attributes": {"env": "prod"}},
    {"match_san_uri": "spiffe://example.org/ns/ai/sa/rag", "consumer": "rag"},
]


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"identities": IDENTITIES}, None),
        ({"require": False}, None),
        ({"default_consumer_from": "cn"}, None),
        ({"identities": [{"consumer": "x"}]}, "set exactly one of match_subject_cn"),
        (
            {"identities": [{"match_subject_cn": "a", "match_san_dns": "a", "consumer": "x"}]},
            "set exactly one of match_subject_cn",
        ),
        (
            {
                "identities": [
                    {"match_san_dns": "a.internal", "consumer": "x"},
                    {"match_san_dns": "A.internal", "consumer": "y"},
                ]
            },
            "dns 'a.internal' is mapped twice",
        ),
        ({"identities": [{"match_subject_cn": "", "consumer": "x"}]}, "at least 1 character"),
        ({"default_consumer_from": "san"}, "Input should be 'cn'"),
        ({"identities": [{"match_subject_cn": "a", "consumer": "x", "cn": "a"}]}, "Extra inputs"),
    ],
)
def test_config(config: dict[str, object], error: str | None) -> None:
    if error is None:
        Config.model_validate(config)
        return
    with pytest.raises(ValidationError, match=error):
        Config.model_validate(config)


def test_certificate_names() -> None:
    cert = _cert("svc-a", ("DNS", "Svc-A.Internal"), ("URI", "spiffe://x/y"), ("IP Address", "::1"))
    assert certificate_names(cert) == {
        ("cn", "svc-a"),
        ("dns", "svc-a.internal"),
        ("uri", "spiffe://x/y"),
    }
    two_cns = {"subject": ((("commonName", "a"),), (("commonName", "b"),))}
    assert certificate_names(two_cns) == set()  # ambiguous: no CN at all


def _exchange(cert: dict[str, Any] | None) -> Exchange:
    return Exchange(
        request_id="r",
        method="GET",
        path="/",
        query_string="",
        headers=CIMultiDict(),
        client_ip="192.0.2.1",
        scheme="https",
        peer_cert=cert,
    )


@pytest.mark.parametrize(
    ("extra", "cert", "status", "identity"),
    [
        ({}, _cert("svc-a"), None, Identity("service-a", "internal")),
        (
            {},
            _cert(None, ("DNS", "svc-b.internal")),
            None,
            Identity("service-b", None, {"env": "prod"}),
        ),
        (
            {},
            _cert("whatever", ("URI", "spiffe://example.org/ns/ai/sa/rag")),
            None,
            Identity("rag"),
        ),
        (
            {},
            _cert("svc-a", ("URI", "spiffe://example.org/ns/ai/sa/rag")),
            None,
            Identity("service-a", "internal"),
        ),  # several entries match: the first listed wins
        ({}, _cert("svc-a ", ("URI", "spiffe://example.org/ns/ai/sa/rag/x")), 403, None),  # exact
        ({}, _cert("svc-z", ("DNS", "svc-b.internal.evil")), 403, None),
        ({}, None, 401, None),
        ({}, {}, 401, None),  # getpeercert() of an unverified certificate
        ({"require": False}, None, None, None),
        ({"require": False}, _cert("svc-z"), 403, None),  # a certificate still has to map
        ({"default_consumer_from": "cn"}, _cert("svc-z"), None, Identity("cn:svc-z", "service")),
        ({"default_consumer_from": "cn"}, _cert("svc-a"), None, Identity("service-a", "internal")),
        ({"default_consumer_from": "cn"}, _cert(None, ("DNS", "x.internal")), 403, None),
    ],
)
async def test_decisions(
    extra: dict[str, object],
    cert: dict[str, Any] | None,
    status: int | None,
    identity: Identity | None,
) -> None:
    check = MtlsCheck(Config.model_validate({"identities": IDENTITIES, **extra}))
    ex = _exchange(cert)
    decision = await check.check_request(ex)
    assert ex.identity == identity
    if status is None:
        assert decision.action is Action.ALLOW
        return
    assert decision.action is Action.BLOCK and decision.status == status
    (finding,) = decision.findings
    if status == 401:
        assert finding.kind == "auth.missing"
        assert dict(decision.headers)["WWW-Authenticate"].endswith('realm="wardgate"')
    else:
        assert finding.kind == "auth.unknown_certificate"
        assert not decision.headers
