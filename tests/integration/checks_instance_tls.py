"""Budget with a domain: the instance terminates TLS itself (no load balancer), with a certificate
that certbot obtains on the instance through the domain's Route53 zone (DNS-01) and keeps on EFS.

Checked against the emulator on the stack of test_artifact.py (the README's quick start has a
domain): what the stack gives the instance for that (HTTPS open, the one challenge record it may
write, the certbot step and the HTTPS site in its bundle) and that the index is health-checked
over HTTPS. The issuance itself is proven against Pebble in molecule/tls and the HTTPS rehearsal.
"""

from .helpers import user_data_of
from .test_stacks import _prefix_list_rules, _rules, _sg


def _instance_policy(aws, stack):
    iam = aws("iam")
    names = iam.list_role_policies(RoleName=f"{stack}-instance")["PolicyNames"]
    return [s for name in names for s in iam.get_role_policy(RoleName=f"{stack}-instance", PolicyName=name)["PolicyDocument"]["Statement"]]


def check_instance_tls(aws, stack, fqdn, index_cidrs, region):
    vpc_id = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"][0]["VpcId"]
    app_sg = _sg(aws, vpc_id, f"{stack}-app")
    # HTTPS for the clients, the index port for the redirect and /health; the checkers on 443
    cidrs = tuple(sorted(index_cidrs))
    assert _rules(app_sg) == [(443, 443, cidrs, ()), (8080, 8080, cidrs, ())]
    assert _prefix_list_rules(aws, app_sg) == [(443, 443, (f"com.amazonaws.{region}.route53-healthchecks",))]

    checks = [c for c in aws("route53").list_health_checks()["HealthChecks"]
              if c["HealthCheckConfig"].get("FullyQualifiedDomainName") == fqdn]
    assert [(c["HealthCheckConfig"]["Type"], c["HealthCheckConfig"]["Port"]) for c in checks] == [("HTTPS", 443)]

    by_sid = {s["Sid"]: s for s in _instance_policy(aws, stack)}
    challenge = by_sid["WriteOnlyThisIndexsAcmeChallenge"]
    assert challenge["Condition"]["ForAllValues:StringEquals"] == {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [f"_acme-challenge.{fqdn}"],
        "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}

    _, text = user_data_of(aws, f"{stack}-lt")
    assert "--dns-route53" in text and f"--cert-name {fqdn}" in text
    assert "ln -sfn /etc/nginx/sites-available/pypiserver-tls /etc/nginx/sites-enabled/pypiserver" in text
    assert "ssl_certificate /etc/privatepypi/acme/live/" + fqdn + "/fullchain.pem;" in text
    assert "PRIVATE KEY" not in text
