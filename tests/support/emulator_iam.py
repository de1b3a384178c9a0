"""The emulator's additions for the instance role (imported by tests/support/emulator.py).

- Route53's health checkers' AWS-managed prefix lists (com.amazonaws.<region>.route53-healthchecks
  and its ipv6 twin, published by AWS in every region since September 2023): moto 5.2.5 has the
  S3, DynamoDB, CloudFront, Ground Station and VPC Lattice lists only.
- Launch template TagSpecifications of ResourceType network-interface: AWS tags the network
  interfaces of an instance launched from the template (by an AutoScalingGroup too); moto 5.2.5
  tags the instance only. The interface a launch creates goes with its instance (AWS's
  DeleteOnTermination default for it; moto kept it, and its tags then outlived the stack).
- IAM enforced for STS role sessions (an instance's credentials from its metadata service, the
  deploying user's role in its test), on the resources and condition keys AWS authorizes: see the
  section "IAM enforced for role sessions" below and roles/aws_stack/README.md, "What the
  emulator enforces".
"""
import json
import logging
import re
import uuid
from urllib.parse import urlparse
from xml.sax.saxutils import escape

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.ec2.models import instances as _instances
from moto.ec2.models.managed_prefixes import ManagedPrefixListBackend
from moto.ec2.utils import convert_tag_spec
from moto.iam.models import Policy
from moto.sts.models import sts_backends

# --------------------------------------------------------------------------- Route53 health checkers' prefix lists
# A few of the ranges AWS publishes for ROUTE53_HEALTHCHECKS; the emulator's instances are never
# probed, so the entries only have to look like AWS's.
ROUTE53_HEALTHCHECKERS = ["54.243.31.192/26", "107.23.255.0/26", "54.183.255.128/26", "54.228.16.0/26",
                          "176.34.159.192/26", "54.251.31.128/26", "54.255.254.192/26", "54.252.79.128/26"]
_orig_create_default_pls = ManagedPrefixListBackend.create_default_pls


def _create_default_pls(self):
    _orig_create_default_pls(self)
    region = self.region_name
    self._create_aws_managed_prefix_list(
        name=f"com.amazonaws.{region}.route53-healthchecks", address_family="IPv4",
        entries=[{"Cidr": cidr, "Description": "route53-healthchecks"} for cidr in ROUTE53_HEALTHCHECKERS])
    self._create_aws_managed_prefix_list(
        name=f"com.amazonaws.{region}.ipv6.route53-healthchecks", address_family="IPv6",
        entries=[{"Cidr": "2600:1f18:7fff:f800::/56", "Description": "route53-healthchecks"}])


ManagedPrefixListBackend.create_default_pls = _create_default_pls

# --------------------------------------------------------------------------- network interface tags from the template
_orig_run_instances = _instances.InstanceBackend.run_instances


def _run_instances(self, image_id, count, user_data, security_group_names, **kwargs):
    reservation = _orig_run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
    # The interface a launch creates for the instance goes with it: AWS's default for it is
    # DeleteOnTermination=true, moto's false (its interfaces, now tagged, outlived the instances).
    attached = any(n.get("NetworkInterfaceId") for n in kwargs.get("nics") or [])
    for instance in reservation.instances if not attached else []:
        if 0 in instance.nics:
            instance.nics[0].delete_on_termination = True
    template_arg = kwargs.get("launch_template")
    if template_arg:
        version = self._get_template_from_args(template_arg)
        tags = convert_tag_spec(version.data.get("TagSpecifications", {})).get("network-interface", {})
        for instance in reservation.instances if tags else []:
            for nic in instance.nics.values():
                nic.add_tags(tags)
    return reservation


_instances.InstanceBackend.run_instances = _run_instances

# --------------------------------------------------------------------------- IAM enforced for role sessions
# moto can enforce IAM (INITIAL_NO_AUTH_ACTION_COUNT), but it authorizes every EC2 and SSM call
# against Resource "*" and evaluates no condition key outside a role's trust policy: a statement
# scoped to one parameter never matches, and a condition never restricts. So the emulator puts its
# own evaluation in place of moto's, for the requests signed with an STS role session's credentials
# (what an instance gets from its metadata service):
# - the session is recognised by its access key id and session token (the signature is not checked);
# - each request is authorized on the resources AWS's Service Authorization Reference names for
#   its action, with their ARNs and the condition keys AWS fills in (REQUESTS below); an action not
#   listed is authorized on moto's resource, "*" for most;
# - explicit Deny wins, then any Allow whose Action, Resource and every Condition match; nothing
#   else is allowed; a condition operator the evaluator does not know never matches (fails closed).
# The deployer's and the tests' own calls (long-term keys) stay unauthenticated, as before.

log = logging.getLogger("emulator.iam")
# the signing name of a service, where it is not the prefix of its IAM actions
IAM_PREFIX = {"monitoring": "cloudwatch"}


class _Refusal(AccessDeniedError):
    """HTTP 403 with an XML error document shaped as the service's protocol has it."""

    def __init__(self, code, message, document):
        super().__init__("", "")
        self.error_type, self.message = code, message
        request_id = uuid.uuid4()
        self.description = '<?xml version="1.0" encoding="UTF-8"?>' + document.format(
            code=code, message=escape(message), request_id=request_id)


EC2_ERROR = ("<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
             "<RequestID>{request_id}</RequestID></Response>")
S3_ERROR = "<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
QUERY_ERROR = ("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
               "<RequestId>{request_id}</RequestId></ErrorResponse>")


def denied(response, principal, action, resource, service=None):
    """The refusal as the service words it (the service called, whose action may be another's: iam:PassRole in
    RunInstances): AWS's message and error code, in the service's protocol."""
    message = f"User: {principal} is not authorized to perform: {action} on resource: {resource}"
    if (service or action.split(":")[0]) == "ec2":
        return _Refusal("UnauthorizedOperation", "You are not authorized to perform this operation. " + message, EC2_ERROR)
    if response.headers.get("X-Amz-Target"):  # JSON protocols (SSM, CloudWatch Logs, ...)
        return JsonRESTError("AccessDeniedException", message)
    if action.startswith("s3:"):
        return _Refusal("AccessDenied", message, S3_ERROR)
    return _Refusal("AccessDenied", message, QUERY_ERROR)  # query protocols (IAM, STS, Auto Scaling, ...)


def role_session(headers):
    """The STS role session a request is signed with, or None (long-term keys, unsigned)."""
    authorization = headers.get("Authorization") or ""
    if "Credential=" not in authorization or "X-Amz-Security-Token" not in headers:
        return None
    key_id = authorization.split("Credential=", 1)[1].split("/", 1)[0]
    for by_partition in list(sts_backends.values()):
        for backend in list(by_partition.values()):
            for session in backend.assumed_roles:
                if session.access_key_id == key_id:
                    return session
    return None


def _glob(pattern, value, ignore_case=False):
    """IAM wildcards: * any run of characters, ? one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _condition_holds(operator, key, expected, context):
    """One key of one condition operator; context maps lower-cased keys to lists of values."""
    base, if_exists = (operator[:-8], True) if operator.endswith("IfExists") else (operator, False)
    qualifier, _, base = base.rpartition(":")
    actual = context.get(key.lower())
    expected = [str(e) for e in _as_list(expected)]
    if base == "Null":
        return (actual is None) == (expected[0].lower() == "true")
    if actual is None:
        return if_exists
    tests = {
        "StringEquals": lambda a, e: a == e, "StringNotEquals": lambda a, e: a != e,
        "StringEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
        "StringLike": lambda a, e: _glob(e, a), "StringNotLike": lambda a, e: not _glob(e, a),
        "ArnEquals": lambda a, e: a == e, "ArnLike": lambda a, e: _glob(e, a),
        "ArnNotEquals": lambda a, e: a != e, "ArnNotLike": lambda a, e: not _glob(e, a),
        "Bool": lambda a, e: a.lower() == e.lower(),
    }
    if base not in tests:
        log.warning("condition operator %s is not evaluated by the emulator: the statement does not match", operator)
        return False
    test = tests[base]
    negated = base.startswith(("StringNot", "ArnNot"))
    if qualifier == "ForAllValues":
        return all(any(test(a, e) for e in expected) for a in actual)
    if negated:
        return all(all(test(a, e) for e in expected) for a in actual)
    return any(test(a, e) for a in actual for e in expected)


def _statement_applies(statement, action, resource, context):
    if "Action" in statement:
        if not any(_glob(a, action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif any(_glob(a, action, ignore_case=True) for a in _as_list(statement.get("NotAction", []))):
        return False
    if resource is ANY_RESOURCE:
        if "Resource" not in statement:
            return False
    elif "Resource" in statement:
        if not any(_glob(r, resource) for r in _as_list(statement["Resource"])):
            return False
    elif any(_glob(r, resource) for r in _as_list(statement.get("NotResource", []))):
        return False
    return all(_condition_holds(operator, key, expected, context)
               for operator, keys in (statement.get("Condition") or {}).items()
               for key, expected in keys.items())


ACTIONS_ONLY_TAG = "EmulatorIamResources"
ANY_RESOURCE = object()  # matches every Resource pattern and no NotResource one


def evaluate(documents, action, resource, context):
    """'Deny', 'Allow' or None (implicitly denied) for one action on one resource."""
    allowed = False
    for document in documents:
        for statement in _as_list(document.get("Statement", [])):
            if _statement_applies(statement, action, resource, context):
                if statement.get("Effect") == "Deny":
                    return "Deny"
                allowed = True
    return "Allow" if allowed else None


def _role(role_arn, account_id, partition):
    from moto.iam.models import iam_backends
    return iam_backends[account_id][partition].get_role_by_arn(role_arn)


def _role_tags(role):
    tags = role.tags or {}
    entries = tags.values() if isinstance(tags, dict) else tags
    return {t.get("Key", t.get("key")): t.get("Value", t.get("value")) for t in entries}


def _documents(role):
    documents = [json.loads(d) if isinstance(d, str) else d for d in role.policies.values()]
    for policy in role.managed_policies.values():
        if isinstance(policy, Policy):
            documents.append(_policy_document(policy))
    return documents


def _policy_document(policy):
    version = next(v for v in policy.versions if v.is_default)
    return json.loads(version.document) if isinstance(version.document, str) else version.document


def _boundary(role):
    """The role's permissions boundary as a document, or None (no boundary: the identity policies alone decide)."""
    if not role.permissions_boundary_arn:
        return None
    account_id, partition = role.arn.split(":")[4], role.arn.split(":")[1]
    try:
        return _policy_document(_iam_backend(account_id, partition).get_policy(role.permissions_boundary_arn))
    except Exception:  # noqa: BLE001 - a boundary that names no policy allows nothing, as on AWS
        return {"Statement": []}


def _tag_context(tags, prefixes=("aws",)):
    """aws:ResourceTag/<key> (and the service's own <prefix>:ResourceTag/<key>) for each tag."""
    context = {}
    for key, value in tags.items():
        for prefix in prefixes:
            context[f"{prefix}:resourcetag/{key}".lower()] = [value]
    return context


def _ec2_tags(resource):
    return {t["key"]: t["value"] for t in resource.get_tags()} if resource is not None else {}


def _ssm_requests(response, action, arn):
    names = {"GetParameter": [response._get_param("Name")], "GetParameters": response._get_param("Names") or [],
             "GetParametersByPath": [response._get_param("Path")]}.get(action)
    if names is None:
        return None
    requests = []
    for name in names:
        parameter_arn = arn("ssm", "parameter/" + (name or "").split(":")[0].lstrip("/"))
        requests.append(("ssm:" + action, parameter_arn, {}))
        # SecureString: SSM asks KMS to decrypt with the caller's own permissions, through SSM
        # (kms:ViaService) and naming the parameter in the encryption context (PARAMETER_ARN).
        if response._get_param("WithDecryption") and action == "GetParameter":
            try:
                parameter = response.ssm_backend.get_parameter(name)
            except Exception:  # noqa: BLE001 - a missing parameter is the action's own answer
                parameter = None
            if parameter is not None and parameter.parameter_type == "SecureString":
                key = parameter.keyid or "alias/aws/ssm"
                key_arn = arn("kms", "key/" + (key.rsplit("/", 1)[-1] if not key.startswith("alias/") else "aws-ssm-default"))
                requests.append(("kms:Decrypt", key_arn, {
                    "kms:viaservice": [f"ssm.{response.region}.amazonaws.com"],
                    "kms:encryptioncontext:parameter_arn": [parameter_arn]}))
    return requests


# EC2 deletes and what names their resource: authorized on that resource with its tags (aws:ResourceTag/<key>,
# ec2:ResourceTag/<key>), where moto authorizes them on "*" and fills in no tag.
EC2_DELETES = {"TerminateInstances": ("InstanceIds", "instance"), "DeleteVpc": ("VpcId", "vpc"),
               "DeleteSubnet": ("SubnetId", "subnet"), "DeleteSecurityGroup": ("GroupId", "security-group"),
               "DeleteInternetGateway": ("InternetGatewayId", "internet-gateway"),
               "DeleteRouteTable": ("RouteTableId", "route-table"), "DeleteNatGateway": ("NatGatewayId", "natgateway"),
               "DeleteLaunchTemplate": ("LaunchTemplateId", "launch-template"),
               "DeregisterImage": ("ImageId", "image"), "DeleteSnapshot": ("SnapshotId", "snapshot"),
               "DeleteVpcEndpoints": ("VpcEndpointIds", "vpc-endpoint")}


def _ec2_ids(response, name):
    """The ids a request names (one, or a list as moto parses InstanceId.1, InstanceId.2, ...)."""
    value = response._get_param(name)
    return [] if not value else [value] if isinstance(value, str) else list(value)


def _ec2_delete_requests(response, action, arn):
    name, kind = EC2_DELETES[action]
    backend = response.ec2_backend
    ids = _ec2_ids(response, name)
    if action == "DeleteLaunchTemplate" and not ids:
        template = backend.launch_template_name_to_ids.get(response._get_param("LaunchTemplateName"))
        ids = [template] if template else []
    return [("ec2:" + action, arn("ec2", f"{kind}/{resource_id}"), _tag_context(backend.tags.get(resource_id, {}), ("aws", "ec2")))
            for resource_id in ids] or None


def _pass_role_to_ec2(response, arn):
    """RunInstances with an instance profile: AWS authorizes iam:PassRole on the profile's role, passed to EC2."""
    name, profile_arn = response._get_param("IamInstanceProfile.Name"), response._get_param("IamInstanceProfile.Arn")
    if not name and not profile_arn:
        return []
    account_id, partition = arn("iam", "", regional=False).split(":")[4], arn("iam", "").split(":")[1]
    backend = _iam_backend(account_id, partition)
    try:
        profile = backend.get_instance_profile(name) if name else backend.get_instance_profile_by_arn(profile_arn)
    except Exception:  # noqa: BLE001 - an unknown profile is the action's own answer
        return []
    return [("iam:PassRole", role.arn, {"iam:passedtoservice": ["ec2.amazonaws.com"]}) for role in profile.roles]


def _ec2_requests(response, action, arn):
    if action in EC2_DELETES:
        return _ec2_delete_requests(response, action, arn)
    if action == "RunInstances":
        passed = _pass_role_to_ec2(response, arn)
        return [("ec2:RunInstances", None, {})] + passed if passed else None
    if action != "AssociateAddress":
        return None
    backend = response.ec2_backend
    allocation_id = response._get_param("AllocationId")
    address = None
    if allocation_id:
        found = [a for a in backend.describe_addresses() if a.allocation_id == allocation_id]
        address = found[0] if found else None
    requests = [("ec2:AssociateAddress", arn("ec2", "elastic-ip/" + (allocation_id or "*")),
                 _tag_context(_ec2_tags(address), ("aws", "ec2")))]
    instance_id, interface_id = response._get_param("InstanceId"), response._get_param("NetworkInterfaceId")
    interface = None
    if instance_id:
        try:
            instance = backend.get_instance(instance_id)
        except Exception:  # noqa: BLE001 - an unknown instance is the action's own answer
            instance = None
        requests.append(("ec2:AssociateAddress", arn("ec2", "instance/" + instance_id),
                         _tag_context(_ec2_tags(instance), ("aws", "ec2"))))
        # the stricter reading: the address lands on the instance's primary network interface,
        # which is authorized too
        interface = instance.nics.get(0) if instance is not None else None
    elif interface_id:
        interface = backend.get_network_interface(interface_id)
    if interface is not None:
        requests.append(("ec2:AssociateAddress", arn("ec2", "network-interface/" + interface.id),
                         _tag_context(_ec2_tags(interface), ("aws", "ec2"))))
    return requests


# The IAM actions that name a role (RoleName) and the permissions boundary they are authorized with
# (iam:PermissionsBoundary, Service Authorization Reference): the one the request sets, or the role's own.
BOUNDARY_FROM_REQUEST = {"CreateRole", "PutRolePermissionsBoundary"}
BOUNDARY_OF_THE_ROLE = {"PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy",
                        "DeleteRolePermissionsBoundary"}


def _iam_backend(account_id, partition):
    from moto.iam.models import iam_backends
    return iam_backends[account_id][partition]


def _iam_requests(response, action, arn):
    """IAM actions on the role (or instance profile) they name, with its tags and its permissions boundary; moto
    authorizes them on "*", so a statement scoped to some roles would allow them on every role."""
    role_name, profile_name = response._get_param("RoleName"), response._get_param("InstanceProfileName")
    if not role_name and not profile_name:
        return None
    account_id, partition = arn("iam", "", regional=False).split(":")[4], arn("iam", "").split(":")[1]
    backend = _iam_backend(account_id, partition)
    requests = []
    if profile_name:
        requests.append(("iam:" + action, arn("iam", "instance-profile/" + profile_name, regional=False), {}))
        # the role goes with the profile wherever the profile is passed: AWS asks for iam:PassRole on it
        # (AddRoleToInstanceProfile, API reference), with no service to pass it to yet
        if action == "AddRoleToInstanceProfile" and role_name:
            requests.append(("iam:PassRole", arn("iam", "role/" + role_name, regional=False), {}))
        return requests
    if role_name:
        context = {}
        try:
            role = backend.get_role(role_name)
        except Exception:  # noqa: BLE001 - a role that does not exist (CreateRole, or the action's own answer)
            role = None
        if role is not None:
            context.update(_tag_context(_role_tags(role), ("aws", "iam")))
        if action in BOUNDARY_FROM_REQUEST and response._get_param("PermissionsBoundary"):
            context["iam:permissionsboundary"] = [response._get_param("PermissionsBoundary")]
        elif action in BOUNDARY_OF_THE_ROLE and role is not None and role.permissions_boundary_arn:
            context["iam:permissionsboundary"] = [role.permissions_boundary_arn]
        if action in ("AttachRolePolicy", "DetachRolePolicy"):
            context["iam:policyarn"] = [response._get_param("PolicyArn")]
        if action == "CreateRole":
            tags = _request_tags(response, "Tags.member.{}.Key", "Tags.member.{}.Value")
            context.update({f"aws:requesttag/{k}".lower(): [v] for k, v in tags.items()})
        requests.append(("iam:" + action, role.arn if role is not None else arn("iam", "role/" + role_name, regional=False),
                         context))
    return requests


def _request_tags(response, key_pattern, value_pattern):
    tags, index = {}, 1
    while response._get_param(key_pattern.format(index)) is not None:
        tags[response._get_param(key_pattern.format(index))] = response._get_param(value_pattern.format(index)) or ""
        index += 1
    return tags


def _autoscaling_requests(response, action, arn):
    if action != "SetInstanceHealth":
        return None
    instance_id = response._get_param("InstanceId")
    for group in response.autoscaling_backend.autoscaling_groups.values():
        if any(state.instance.id == instance_id for state in group.instance_states):
            tags = {t["Key"]: t["Value"] for t in group.tags}  # moto keeps the API's own Key/Value shape
            return [("autoscaling:SetInstanceHealth", group.arn, _tag_context(tags, ("aws", "autoscaling")))]
    return [("autoscaling:SetInstanceHealth", arn("autoscaling", "autoScalingGroup:*"), {})]


def _cloudwatch_requests(response, action, arn):
    if action != "PutMetricData":
        return None
    return [("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": [response._get_param("Namespace")]})]


def _logs_requests(response, action, arn):
    group, stream = response._get_param("logGroupName"), response._get_param("logStreamName")
    if not group:
        return None
    resource = "log-group:" + group + (":log-stream:" + stream if stream and action != "DescribeLogStreams" else "")
    return [("logs:" + action, arn("logs", resource), {})]


def _route53_requests(response, action, arn):
    """Route53's ARNs name no region and no account; ChangeResourceRecordSets carries the condition
    keys AWS fills from the change batch (names lower-cased, without the final dot), which scope
    certbot's DNS-01 record (Route 53 Developer Guide, "Using IAM policy conditions")."""
    partition = arn("route53", "").split(":")[1]
    if action == "ChangeResourceRecordSets":
        zone = (response._get_param("HostedZoneId") or "").rsplit("/", 1)[-1]
        changes = response._get_param("ChangeBatch.Changes") or []
        sets = [c.get("ResourceRecordSet") or {} for c in changes]
        return [("route53:ChangeResourceRecordSets", f"arn:{partition}:route53:::hostedzone/{zone}", {
            "route53:changeresourcerecordsetsnormalizedrecordnames": [s.get("Name", "").rstrip(".").lower() for s in sets],
            "route53:changeresourcerecordsetsrecordtypes": [s.get("Type", "") for s in sets],
            "route53:changeresourcerecordsetsactions": [c.get("Action", "") for c in changes]})]
    if action == "GetChange":
        change = (response._get_param("Id") or "").rsplit("/", 1)[-1]
        return [("route53:GetChange", f"arn:{partition}:route53:::change/{change}", {})]
    return None


REQUESTS = {"ssm": _ssm_requests, "ec2": _ec2_requests, "autoscaling": _autoscaling_requests, "iam": _iam_requests,
            "cloudwatch": _cloudwatch_requests, "logs": _logs_requests, "route53": _route53_requests}


# moto names some S3 operations by their API name, where IAM authorizes another action (Amazon S3
# User Guide, "Required permissions for Amazon S3 API operations"): HeadBucket needs s3:ListBucket,
# the public access block calls need the s3:...BucketPublicAccessBlock actions.
S3_IAM_ACTIONS = {"HeadBucket": "ListBucket", "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
                  "PutPublicAccessBlock": "PutBucketPublicAccessBlock", "DeletePublicAccessBlock": "PutBucketPublicAccessBlock"}


def authorization_requests(response, service, action, moto_resource, account_id, partition):
    """(IAM action, resource ARN, condition context) for each thing one API call needs allowed."""

    def arn(arn_service, rest, regional=True):
        return f"arn:{partition}:{arn_service}:{response.region if regional else ''}:{account_id}:{rest}"

    if service == "s3":
        action = S3_IAM_ACTIONS.get(action, action)
    build = REQUESTS.get(service)
    requests = build(response, action, arn) if build else None
    # None: an action the emulator does not model, authorized on moto's resource ("*" mostly)
    return requests if requests is not None else [(f"{service}:{action}", None if moto_resource == "*" else moto_resource, {})]


_orig_authenticate = ActionAuthenticatorMixin._authenticate_and_authorize_action


def _authenticate_and_authorize_action(self, iam_request_cls, resource="*"):
    session = role_session(self.headers)
    if session is None:
        return _orig_authenticate(self, iam_request_cls, resource)
    parsed = urlparse(self.uri)
    path = self.raw_path + ("?" + parsed.query if parsed.query else "")
    # The session is recognised by its access key id and its session token (moto refuses a token that
    # is not the session's: InvalidClientTokenId). The signature itself is not checked: moto's
    # recomputation disagrees with botocore's for REST APIs such as EFS (SignatureDoesNotMatch on
    # correctly signed requests), and what is tested here is authorization, not signing.
    request = iam_request_cls(account_id=self.current_account, method=self.method, path=path, data=self.data,
                              body=self.raw_body, headers=self.headers, action=self._get_action())
    signing_name, action = request._action.split(":", 1)
    service = IAM_PREFIX.get(signing_name, signing_name)
    if f"{service}:{action}" == "sts:GetCallerIdentity":  # always allowed, as on AWS
        return None
    account_id, partition = session.role_arn.split(":")[4], session.role_arn.split(":")[1]
    role = _role(session.role_arn, account_id, partition)
    documents = _documents(role)
    # a permissions boundary caps the role: an action must be allowed by its policies and by the boundary
    # (IAM User Guide, "Permissions boundaries for IAM entities"; no resource-based policy is modelled)
    boundary = _boundary(role)
    # Where the emulator does not know an action's resource: "*" (only statements on "*" allow it),
    # or, for a role tagged EmulatorIamResources=actions-only (the deploying user's policy in
    # tests/integration/test_operations.py), any Resource of a statement that allows the action
    actions_only = _role_tags(role).get(ACTIONS_ONLY_TAG) == "actions-only"
    principal = f"arn:{partition}:sts::{account_id}:assumed-role/{session.role_arn.split('/')[-1]}/{session.session_name}"
    for iam_action, known, keys in authorization_requests(self, service, action, resource, account_id, partition):
        context = dict(keys, **{"aws:principalarn": [session.role_arn]})
        arn = known if known is not None else ANY_RESOURCE if actions_only else "*"
        verdict = evaluate(documents, iam_action, arn, context)
        if verdict == "Allow" and boundary is not None and evaluate([boundary], iam_action, arn, context) != "Allow":
            verdict = "outside the permissions boundary"
        shown = "(any resource)" if arn is ANY_RESOURCE else arn
        log.info("%s %s on %s: %s", principal, iam_action, shown, verdict or "implicit deny")
        if verdict != "Allow":
            raise denied(self, principal, iam_action, shown, service)
    return None


ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate_and_authorize_action
