"""What the host programs meet on an instance, for their unit tests: a moto server (S3, EC2, Auto Scaling
over HTTP) and an IMDSv2 stand-in. A test module subclasses Metadata, so that the instance and the public
address it sets stay its own."""
import contextlib
import http.server
import json
import os
import threading

import boto3
from moto import server as moto_server
from moto.ec2.models.amis import AMIS

REGION = "eu-west-1"


class Metadata(http.server.BaseHTTPRequestHandler):
    """IMDSv2: a token first, then the instance's identity, its role's credentials and its public address."""

    instance_id = "i-unset"
    public_ipv4 = ""  # '' answers 404, as for an instance without a public address

    def do_PUT(self):  # noqa: N802
        self._answer(b"token-1" if self.path == "/latest/api/token" else None)

    def do_GET(self):  # noqa: N802
        if self.headers.get("X-aws-ec2-metadata-token") != "token-1":
            self._answer(None, 401)
            return
        answers = {
            "/latest/meta-data/instance-id": self.instance_id,
            "/latest/meta-data/public-ipv4": self.public_ipv4,
            "/latest/dynamic/instance-identity/document": json.dumps({"instanceId": self.instance_id, "region": REGION}),
            "/latest/meta-data/iam/security-credentials/": "stack-instance",
            "/latest/meta-data/iam/security-credentials/stack-instance": json.dumps(
                {"AccessKeyId": "testing", "SecretAccessKey": "testing", "Token": "testing"}),
        }
        answer = answers.get(self.path)
        self._answer(answer.encode() if answer else None)

    def _answer(self, body, status=200):
        status = status if body is not None else (status if status != 200 else 404)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def aws_endpoints(metadata):
    """Yields {"aws": the moto server's URL, "imds": the metadata stand-in's (the handler class given)}."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    imds = http.server.ThreadingHTTPServer(("127.0.0.1", 0), metadata)
    threading.Thread(target=imds.serve_forever, daemon=True).start()
    try:
        yield {"aws": f"http://{host}:{port}", "imds": f"http://127.0.0.1:{imds.server_port}"}
    finally:
        imds.shutdown()
        server.stop()


def client(endpoints, service):
    return boto3.client(service, endpoint_url=endpoints["aws"], region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def group_with_one_instance(endpoints):
    """An AutoScalingGroup of a fresh name with one instance: (its name, the instance's id, the image id)."""
    ec2, autoscaling = client(endpoints, "ec2"), client(endpoints, "autoscaling")
    image = AMIS[0]["ami_id"]  # in every region of the stand-in (listing all of its images costs seconds)
    name = f"stack-asg-{os.urandom(3).hex()}"
    template = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": image, "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, MaxSize=1, DesiredCapacity=1,
                                          LaunchTemplate={"LaunchTemplateId": template},
                                          AvailabilityZones=[REGION + "a"])
    instance = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"][0]["Instances"][0]["InstanceId"]
    return name, instance, image
