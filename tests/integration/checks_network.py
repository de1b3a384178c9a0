"""The private tier's way out (roles/aws_stack/tasks/network/create.yml, issue 19), read back with boto3.

check_private_routes(aws, stack, per_az=False) runs after site.yml of a stack with private subnets
(professional); check_private_routes_gone(aws, vpc_id) after its teardown, with the VPC id read before it.
"""

from .helpers import tags_of

S3_PREFIX = "com.amazonaws.{region}.s3"


def _live(items, key="State"):
    return [i for i in items if str(i.get(key, "")).lower() in ("available", "pending")]


def check_private_routes(aws, stack, per_az=False):
    """Every private subnet has its own route table of the stack, whose default route goes to a NAT gateway
    of the stack (in the subnet's own zone with per_az, else the one gateway of the first zone), and which
    carries an S3 gateway endpoint (a boot's bundle fetch needs no NAT gateway). Returns the VPC id."""
    ec2 = aws("ec2")
    region = ec2.meta.region_name
    vpc = ec2.describe_vpcs(Filters=[{"Name": "tag:Stack", "Values": [stack]}])["Vpcs"][0]["VpcId"]
    by_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(Filters=by_vpc)["Subnets"]}
    private = [s for s in subnets.values() if tags_of(s).get("Tier") == "private"]
    assert len(private) >= 2, private
    nats = {n["NatGatewayId"]: n for n in _live(ec2.describe_nat_gateways(Filter=by_vpc)["NatGateways"])}
    assert all(tags_of(n).get("Stack") == stack for n in nats.values()), nats
    endpoints = [e for e in _live(ec2.describe_vpc_endpoints(Filters=by_vpc)["VpcEndpoints"])
                 if e["ServiceName"] == S3_PREFIX.format(region=region)]
    assert all(e["VpcEndpointType"] == "Gateway" for e in endpoints), endpoints
    with_endpoint = {t for e in endpoints for t in e["RouteTableIds"]}
    tables = ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]
    nat_zones = set()
    for subnet in private:
        table = next(t for t in tables if any(a.get("SubnetId") == subnet["SubnetId"] for a in t.get("Associations", [])))
        assert tags_of(table).get("Stack") == stack, table
        assert table["RouteTableId"] in with_endpoint, (subnet["AvailabilityZone"], table, endpoints)
        nat = next(r.get("NatGatewayId") for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")
        nat_zone = subnets[nats[nat]["SubnetId"]]["AvailabilityZone"]
        nat_zones.add(nat_zone)
        if per_az:
            assert nat_zone == subnet["AvailabilityZone"], (subnet["SubnetId"], nat)
    assert len(nats) == (len(private) if per_az else 1), nats
    assert len(nat_zones) == len(nats)
    return vpc


def check_private_routes_gone(aws, vpc_id):
    """After the teardown: no VPC endpoint and no NAT gateway of the stack's VPC is left."""
    ec2 = aws("ec2")
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    assert _live(ec2.describe_vpc_endpoints(Filters=by_vpc)["VpcEndpoints"]) == []
    assert _live(ec2.describe_nat_gateways(Filter=by_vpc)["NatGateways"]) == []
