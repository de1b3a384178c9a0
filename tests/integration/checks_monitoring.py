"""Alerting and health of a stack (roles/aws_stack/tasks/monitoring/), read back with boto3.

check_monitoring(aws, stack, profile) runs after site.yml with every alarm and the dashboard on (the role's
defaults), check_budget_monitoring(aws, stack) after site.yml with the budget profile's own (its few alarms,
no health check, no dashboard), check_monitoring_gone(aws, stack) after the teardown. The tests run in
us-east-1, so the health check's alarm (which lives in us-east-1, where Route53 reports) shares the
stack's topic.
"""
import json

ALERT_EMAIL = "ops@example.com"  # tests/integration/vars.yml: aws_stack_contact_email
DOMAIN = "example.com"
GIB = 1024 ** 3
# the audit log's metric filters (monitoring/log_metrics.yml): filter name suffix -> (event, metric)
AUDIT_FILTERS = {"login-failure-bursts": ("login_failures", "LoginFailureBursts"),
                 "credentials-refused": ("credentials_refused", "CredentialsRefused")}


def _metric_filters(aws, stack):
    """The metric filters of the stack's log group, as (name, pattern, transformations)."""
    filters = aws("logs").describe_metric_filters(logGroupName=f"/{stack}/pypiserver")["metricFilters"]
    return sorted((f["filterName"], f["filterPattern"], f["metricTransformations"]) for f in filters)


def _tags(tag_list):
    return {t["Key"]: t["Value"] for t in tag_list or []}


def _topic_arn(aws, stack):
    arns = [t["TopicArn"] for t in aws("sns").list_topics()["Topics"] if t["TopicArn"].endswith(f":{stack}-alerts")]
    return arns[0] if arns else None


def _health_checks(aws, stack):
    """The stack's Route53 health checks, found by their Name and Stack tags."""
    route53 = aws("route53")
    found = []
    for check in route53.list_health_checks()["HealthChecks"]:
        tag_sets = route53.list_tags_for_resources(ResourceType="healthcheck", ResourceIds=[check["Id"]])
        tags = _tags(tag_sets["ResourceTagSets"][0]["Tags"])
        if tags.get("Stack") == stack and tags.get("Name") == f"{stack}-health":
            found.append((check, tags))
    return found


def _expected_alarms(stack, profile, asg, efs_id, alb=None, tg=None, health_check_id=None):
    """name -> (namespace, metric, dimensions, statistic, comparison, threshold, period, evaluations, missing data)."""
    count = 1 if profile == "budget" else 2
    expected = {
        "status-check-failed": ("AWS/EC2", "StatusCheckFailed", {"AutoScalingGroupName": asg}, "Maximum",
                                "GreaterThanOrEqualToThreshold", 1.0, 60, 2, "notBreaching"),
        "cpu-high": ("AWS/EC2", "CPUUtilization", {"AutoScalingGroupName": asg}, "Average",
                     "GreaterThanThreshold", 80.0, 300, 3, "notBreaching"),
        "memory-high": ("CWAgent", "mem_used_percent", {"AutoScalingGroupName": asg}, "Maximum",
                        "GreaterThanThreshold", 90.0, 300, 2, "missing"),
        "disk-root-high": ("CWAgent", "disk_used_percent", {"AutoScalingGroupName": asg, "path": "/"}, "Maximum",
                           "GreaterThanThreshold", 85.0, 300, 1, "missing"),
        "efs-storage-high": ("AWS/EFS", "StorageBytes", {"FileSystemId": efs_id, "StorageClass": "Total"}, "Maximum",
                             "GreaterThanThreshold", 100.0 * GIB, 3600, 1, "notBreaching"),
        "efs-burst-credits-low": ("AWS/EFS", "BurstCreditBalance", {"FileSystemId": efs_id}, "Minimum",
                                  "LessThanThreshold", 250.0 * GIB, 300, 3, "notBreaching"),
        "instances-in-service-low": ("AWS/AutoScaling", "GroupInServiceInstances", {"AutoScalingGroupName": asg},
                                     "Minimum", "LessThanThreshold", float(count), 60, 10, "breaching"),
        "health-check-failed": ("AWS/Route53", "HealthCheckStatus", {"HealthCheckId": health_check_id}, "Minimum",
                                "LessThanThreshold", 1.0, 60, 2, "breaching"),
        # counted from the audit log by the log group's metric filters (AUDIT_FILTERS)
        "login-failure-bursts": (f"privatepypi/{stack}", "LoginFailureBursts", {}, "Sum",
                                 "GreaterThanOrEqualToThreshold", 5.0, 300, 1, "notBreaching"),
        "credentials-refused": (f"privatepypi/{stack}", "CredentialsRefused", {}, "Sum",
                                "GreaterThanOrEqualToThreshold", 1.0, 300, 1, "notBreaching"),
    }
    if profile == "professional":
        expected.update({
            "alb-5xx-high": ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", {"LoadBalancer": alb}, "Sum",
                             "GreaterThanOrEqualToThreshold", 10.0, 300, 1, "notBreaching"),
            "target-5xx-high": ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", {"TargetGroup": tg, "LoadBalancer": alb},
                                "Sum", "GreaterThanOrEqualToThreshold", 10.0, 300, 1, "notBreaching"),
            "unhealthy-hosts": ("AWS/ApplicationELB", "UnHealthyHostCount", {"TargetGroup": tg, "LoadBalancer": alb},
                                "Maximum", "GreaterThanOrEqualToThreshold", 1.0, 60, 3, "notBreaching"),
        })
    return {f"{stack}-{name}": spec for name, spec in expected.items()}


def _check_alarms(aws, stack, topic_arn, expected):
    """The stack's alarms are exactly the expected ones, each as specified. Returns them by name."""
    alarms = {a["AlarmName"]: a for a in aws("cloudwatch").describe_alarms(AlarmNamePrefix=f"{stack}-")["MetricAlarms"]}
    assert sorted(alarms) == sorted(expected)
    for name, (namespace, metric, dimensions, statistic, comparison, threshold, period, evaluations, missing) in expected.items():
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric), name
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == dimensions, name
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (statistic, comparison, threshold), name
        assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (period, evaluations, evaluations), name
        assert alarm["TreatMissingData"] == missing, name
        assert alarm["AlarmActions"] == [topic_arn] and alarm["OKActions"] == [topic_arn], name
        assert alarm["AlarmDescription"], name
    return alarms


# playbooks/group_vars/budget.yml: the alarms a budget stack has unless its user names others
BUDGET_ALARMS = ("instances-in-service-low", "memory-high", "disk-root-high", "credentials-refused")


def check_budget_monitoring(aws, stack):
    """The budget profile's monitoring, for its cost: the topic, four alarms, the logs; no Route53 health
    check (nor its alarm, nor a rule for its checkers), no dashboard."""
    efs_id = [f["FileSystemId"] for f in aws("efs").describe_file_systems()["FileSystems"]
              if _tags(f.get("Tags")).get("Stack") == stack][0]
    topic_arn = _topic_arn(aws, stack)
    assert topic_arn, f"no topic {stack}-alerts"
    everything = _expected_alarms(stack, "budget", f"{stack}-asg", efs_id)
    _check_alarms(aws, stack, topic_arn, {f"{stack}-{name}": everything[f"{stack}-{name}"] for name in BUDGET_ALARMS})
    assert _health_checks(aws, stack) == []
    assert aws("cloudwatch").list_dashboards(DashboardNamePrefix=stack)["DashboardEntries"] == []
    assert [g["logGroupName"] for g in aws("logs").describe_log_groups(logGroupNamePrefix=f"/{stack}/")["logGroups"]] \
        == [f"/{stack}/pypiserver"]
    assert len(_metric_filters(aws, stack)) == len(AUDIT_FILTERS)


def check_monitoring(aws, stack, profile):
    asg = f"{stack}-asg"
    efs_id = [f["FileSystemId"] for f in aws("efs").describe_file_systems()["FileSystems"]
              if _tags(f.get("Tags")).get("Stack") == stack][0]

    # one topic, tagged, with exactly the alert address subscribed by e-mail
    topic_arn = _topic_arn(aws, stack)
    assert topic_arn, f"no topic {stack}-alerts"
    topic_tags = _tags(aws("sns").list_tags_for_resource(ResourceArn=topic_arn)["Tags"])
    assert topic_tags["Stack"] == stack and topic_tags["Name"] == f"{stack}-alerts"
    subscriptions = aws("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert sorted((s["Protocol"], s["Endpoint"]) for s in subscriptions) == [("email", ALERT_EMAIL)]

    # the health check of what users reach, tagged, found by its name
    checks = _health_checks(aws, stack)
    assert len(checks) == 1, checks
    check, check_tags = checks[0]
    config = check["HealthCheckConfig"]
    assert check_tags["Application"] == "privatepypi"
    assert (config["ResourcePath"], config["RequestInterval"], config["FailureThreshold"]) == ("/health", 30, 3)
    alb = tg = None
    if profile == "budget":
        eip = aws("ec2").describe_addresses(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Addresses"][0]
        assert (config["Type"], config["IPAddress"], config["Port"]) == ("HTTP", eip["PublicIp"], 8080)
        assert "FullyQualifiedDomainName" not in config
    else:
        # with a domain, the index's own name over HTTPS (through the load balancer's host rule)
        assert (config["Type"], config["FullyQualifiedDomainName"], config["Port"]) == ("HTTPS", f"pypi.{DOMAIN}", 443)
        assert "IPAddress" not in config
        elb = aws("elbv2")
        alb = elb.describe_load_balancers(Names=[f"{stack}-shared-alb"])["LoadBalancers"][0]["LoadBalancerArn"]
        alb = alb.split(":loadbalancer/")[1]
        tg = elb.describe_target_groups(Names=[f"{stack}-tg"])["TargetGroups"][0]["TargetGroupArn"].split(":")[-1]
        assert alb.startswith("app/") and tg.startswith("targetgroup/")

    # every alarm: the metric it watches, how, and that it e-mails through the topic
    alarms = _check_alarms(aws, stack, topic_arn, _expected_alarms(stack, profile, asg, efs_id, alb, tg, check["Id"]))

    # the access log's log group: the stack's own, tagged, with a retention
    groups = aws("logs").describe_log_groups(logGroupNamePrefix=f"/{stack}/")["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [(f"/{stack}/pypiserver", 30)]
    assert aws("logs").list_tags_log_group(logGroupName=f"/{stack}/pypiserver")["tags"]["Stack"] == stack
    # the audit log's records counted into the stack's namespace, one filter per alarm, no duplicate
    assert _metric_filters(aws, stack) == sorted(
        (f"{stack}-{name}", f'{{ $.event = "{event}" }}',
         [{"metricName": metric, "metricNamespace": f"privatepypi/{stack}", "metricValue": "1"}])
        for name, (event, metric) in AUDIT_FILTERS.items())

    # the dashboard names the stack's resources and shows every alarm
    body = json.loads(aws("cloudwatch").get_dashboard(DashboardName=stack)["DashboardBody"])
    widgets = body["widgets"]
    text = json.dumps(body)
    for name in (asg, efs_id, check["Id"], f"{stack}-alerts", f"/{stack}/pypiserver"):
        assert name in text, name
    shown = [w for w in widgets if w["type"] == "alarm"][0]["properties"]["alarms"]
    assert sorted(shown) == sorted(a["AlarmArn"] for a in alarms.values())
    metrics = [m for w in widgets if w["type"] == "metric" for m in w["properties"]["metrics"]]
    assert ["AWS/EFS", "StorageBytes", "FileSystemId", efs_id, "StorageClass", "Total"] in [m[:6] for m in metrics]
    # the agent's metrics it shows are those it publishes (the root disk and memory; EFS by its own metrics)
    assert sorted(m[:6] if m[1].startswith("disk") else m[:4] for m in metrics if m[0] == "CWAgent") == [
        ["CWAgent", "disk_used_percent", "AutoScalingGroupName", asg, "path", "/"],
        ["CWAgent", "mem_used_percent", "AutoScalingGroupName", asg]]
    assert ["AWS/Route53", "HealthCheckStatus", "HealthCheckId", check["Id"]] in [m[:4] for m in metrics]
    elb_metrics = [m for m in metrics if m[0] == "AWS/ApplicationELB"]
    logs = [w for w in widgets if w["type"] == "log"]
    if profile == "budget":
        # no load balancer: requests and errors come from the access log
        assert not elb_metrics
        assert len(logs) == 2 and all(f"SOURCE '/{stack}/pypiserver'" in w["properties"]["query"] for w in logs)
    else:
        assert not logs
        assert {m[1] for m in elb_metrics} >= {"RequestCount", "TargetResponseTime", "HTTPCode_Target_5XX_Count",
                                              "HTTPCode_ELB_5XX_Count", "UnHealthyHostCount"}
        assert all(alb in m for m in elb_metrics) and tg in json.dumps(elb_metrics)


def check_monitoring_gone(aws, stack):
    assert aws("cloudwatch").describe_alarms(AlarmNamePrefix=f"{stack}-")["MetricAlarms"] == []
    assert _topic_arn(aws, stack) is None
    assert _health_checks(aws, stack) == []
    names = [d["DashboardName"] for d in aws("cloudwatch").list_dashboards(DashboardNamePrefix=stack)["DashboardEntries"]]
    assert stack not in names
    assert aws("logs").describe_log_groups(logGroupNamePrefix=f"/{stack}/")["logGroups"] == []
    # the emulator keeps a log group's metric filters after the group (AWS deletes them with it): the
    # teardown deleted them itself
    assert _metric_filters(aws, stack) == []
