"""Budget with a domain: the instance terminates TLS itself (no load balancer), with a certificate
that certbot obtains on the instance through the domain's Route53 zone (DNS-01) and keeps on EFS.

Asserted here against the emulator: what the stack gives the instance for that (HTTPS open, the one
challenge record it may write, the certbot step and the HTTPS site in its bundle), that the index is
announced and health-checked over HTTPS, that a re-run changes nothing and teardown leaves nothing.
The issuance itself is proven against Pebble in molecule/tls."""

from .checks_bootstrap import check_bootstrap_gone
from .helpers import user_data_of
from .test_stacks import INDEX_CIDRS, ROUTE53_CHECKERS, _prefix_list_rules, _rules, _sg

DOMAIN = "example.org"
FQDN = f"pypi.{DOMAIN}"


def _instance_policy(aws, stack):
    iam = aws("iam")
    names = iam.list_role_policies(RoleName=f"{stack}-instance")["PolicyNames"]
    return [s for name in names for s in iam.get_role_policy(RoleName=f"{stack}-instance", PolicyName=name)["PolicyDocument"]["Statement"]]


def test_budget_with_a_domain_serves_https_from_the_instance(aws, playbook):
    stack = "pp-btls-it"
    zone = aws("route53").create_hosted_zone(Name=DOMAIN, CallerReference=f"{stack}-zone")["HostedZone"]["Id"]
    args = ["-e", "profile=budget", "-e", f"aws_stack_name={stack}", "-e", f"aws_stack_domain={DOMAIN}"]
    try:
        created = playbook("site.yml", *args)
        assert created.rc == 0 and created.failed == 0, created
        assert f"https://{FQDN}/" in created.out and "PLAINTEXT:" not in created.out

        vpc_id = aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"][0]["VpcId"]
        app_sg = _sg(aws, vpc_id, f"{stack}-app")
        # HTTPS for the clients, the index port for the redirect and /health; the checkers on 443
        assert _rules(app_sg) == [(443, 443, tuple(sorted(INDEX_CIDRS)), ()), (8080, 8080, tuple(sorted(INDEX_CIDRS)), ())]
        assert _prefix_list_rules(aws, app_sg) == [(443, 443, (ROUTE53_CHECKERS,))]

        checks = [c for c in aws("route53").list_health_checks()["HealthChecks"]
                  if c["HealthCheckConfig"].get("FullyQualifiedDomainName") == FQDN]
        assert [(c["HealthCheckConfig"]["Type"], c["HealthCheckConfig"]["Port"]) for c in checks] == [("HTTPS", 443)]

        by_sid = {s["Sid"]: s for s in _instance_policy(aws, stack)}
        challenge = by_sid["WriteOnlyThisIndexsAcmeChallenge"]
        assert challenge["Condition"]["ForAllValues:StringEquals"] == {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames": [f"_acme-challenge.{FQDN}"],
            "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}

        _, text = user_data_of(aws, f"{stack}-lt")
        assert "--dns-route53" in text and f"--cert-name {FQDN}" in text
        assert "ln -sfn /etc/nginx/sites-available/pypiserver-tls /etc/nginx/sites-enabled/pypiserver" in text
        assert "ssl_certificate /var/pypi/.privatepypi-acme/live/" + FQDN + "/fullchain.pem;" in text
        assert "PRIVATE KEY" not in text

        rerun = playbook("site.yml", *args)
        assert rerun.rc == 0 and rerun.changed == 0, rerun
    finally:
        teardown = playbook("playbooks/teardown.yml", "-e", f"aws_stack_name={stack}", "-e", f"aws_stack_domain={DOMAIN}")
        aws("route53").delete_hosted_zone(Id=zone)
    assert teardown.rc == 0 and teardown.failed == 0, teardown
    check_bootstrap_gone(aws, stack)
    assert not aws("ec2").describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"]
