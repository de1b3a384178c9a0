"""The shared load balancer's HTTPS listener sends HSTS (roles/aws_stack/tasks/load_balancer/shared.yml, issue 17).

check_hsts(aws, shared_prefix) runs after site.yml of the stack that created the load balancer with HTTPS
(professional with a domain); the emulator (moto) stores listener attributes as AWS does.
"""

HSTS = "routing.http.response.strict_transport_security.header_value"


def check_hsts(aws, shared_prefix, expected="max-age=31536000"):
    elb = aws("elbv2")
    balancer = elb.describe_load_balancers(Names=[f"{shared_prefix}-shared-alb"])["LoadBalancers"][0]
    listeners = elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    https = [listener for listener in listeners if listener["Port"] == 443]
    assert len(https) == 1 and https[0]["Protocol"] == "HTTPS", listeners
    attributes = {a["Key"]: a["Value"] for a in elb.describe_listener_attributes(ListenerArn=https[0]["ListenerArn"])["Attributes"]}
    assert attributes.get(HSTS) == expected, attributes
