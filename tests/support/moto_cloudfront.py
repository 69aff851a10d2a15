"""moto's CloudFront in server mode, with its SigV4 signature checking on, for tests/suite/cloudfront.rs.

Run with the Python of .test-tools/ (tests/run-all.sh installs moto[server] there):

    .test-tools/bin/python tests/support/moto_cloudfront.py

It listens on 127.0.0.1 (a free port), creates an IAM user with an access key allowed
cloudfront:*, a role allowed the same and temporary credentials of it (STS AssumeRole, what
GitHub's OIDC role step ends with), and one distribution, then prints one JSON line:

    {"endpoint": "http://127.0.0.1:PORT", "access_key_id": "...", "secret_access_key": "...",
     "session": {"access_key_id": "...", "secret_access_key": "...", "session_token": "..."},
     "distribution_id": "..."}

From then on every request must be signed with that key: moto recomputes each request's
signature (botocore's signer) and answers 403 SignatureDoesNotMatch when it differs.

Commands, one per line on stdin, each answered with one JSON line on stdout:

    requests           every request received since the last `requests`: method, path, headers, body
    invalidations      moto's own record: [{"id", "caller_reference", "paths"}] of the distribution
    fail N STATUS      answer the next N requests with STATUS (an XML error), without moto seeing them
    drop N             pass the next N requests to moto, then answer 503 instead of moto's answer
                       (an answer lost on the way back: moto did the work)
    inprogress N       the next N Create/GetInvalidation answers say InProgress, not moto's status

End of stdin stops the server.

Work-around (moto 5.2.5): with signature checking on, moto refuses correctly signed GET
requests (GetInvalidation): to recompute the signature it passes the parsed query/form data as
the body when the body is empty, so a bodiless GET is signed over a body it never had. The
patch below makes it sign over the body that was sent. POST requests are checked unpatched.
"""

import io
import json
import os
import sys
import threading

# Authentication starts after this many actions: the setup below (IAM user, policy, key, role,
# temporary credentials, distribution) runs before it, everything sitepurge sends after.
SETUP_ACTIONS = 8
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_ACTIONS)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "setup")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "setup")

import logging  # noqa: E402

import boto3  # noqa: E402
from moto.iam import access_control  # noqa: E402
from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    create_backend_app,
)
from werkzeug.serving import make_server  # noqa: E402

_original = access_control.IAMRequestBase._create_aws_request


def _create_aws_request(self):
    request = _original(self)
    if self._method in ("GET", "HEAD", "DELETE") and not self._body:
        request.data = b""
    return request


access_control.IAMRequestBase._create_aws_request = _create_aws_request

lock = threading.Lock()
received = []
faults = []  # statuses to answer with, in order
dropped = [0]  # answers to lose after moto has acted
in_progress = [0]  # GetInvalidation answers to turn into InProgress


class Recorder:
    """Records each request and injects the faults asked for, in front of moto."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {
            k[5:].replace("_", "-").lower(): v
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        path = environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        with lock:
            received.append(
                {
                    "method": environ["REQUEST_METHOD"],
                    "path": path,
                    "headers": headers,
                    "body": body.decode("utf-8", "replace"),
                }
            )
            fault = faults.pop(0) if faults else None
        if fault is not None:
            code = "Throttling" if fault == 429 else "ServiceUnavailable"
            text = (
                '<?xml version="1.0"?><ErrorResponse><Error><Type>Receiver</Type>'
                f"<Code>{code}</Code><Message>injected by the test</Message></Error>"
                "</ErrorResponse>"
            ).encode()
            start_response(
                f"{fault} Injected",
                [("Content-Type", "text/xml"), ("Content-Length", str(len(text)))],
            )
            return [text]
        with lock:
            drop = dropped[0] > 0
            if drop:
                dropped[0] -= 1
            # CreateInvalidation and GetInvalidation answers carry a status.
            rewrite = (
                environ["REQUEST_METHOD"] in ("GET", "POST")
                and "/invalidation" in path
                and "?" not in path
                and in_progress[0] > 0
            )
            if rewrite:
                in_progress[0] -= 1
        if not (drop or rewrite):
            return self.app(environ, start_response)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers

        answer = b"".join(self.app(environ, capture))
        if drop:
            start_response("503 Dropped", [("Content-Length", "0")])
            return [b""]
        answer = answer.replace(b"<Status>COMPLETED</Status>", b"<Status>InProgress</Status>")
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(answer))))
        start_response(captured["status"], headers)
        return [answer]


def main():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = Recorder(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    endpoint = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()

    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
    iam.create_user(UserName="deploy")
    policy = iam.create_policy(
        PolicyName="purge",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "cloudfront:*", "Resource": "*"}
                ],
            }
        ),
    )
    iam.attach_user_policy(UserName="deploy", PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName="deploy")["AccessKey"]
    role = iam.create_role(
        RoleName="purger",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]
    iam.attach_role_policy(RoleName="purger", PolicyArn=policy["Policy"]["Arn"])
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1")
    session = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ci")["Credentials"]
    cf = boto3.client("cloudfront", endpoint_url=endpoint, region_name="us-east-1")
    dist = cf.create_distribution(
        DistributionConfig={
            "CallerReference": "sitepurge-test",
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "origin",
                        "DomainName": "origin.example.com",
                        "CustomOriginConfig": {
                            "HTTPPort": 80,
                            "HTTPSPort": 443,
                            "OriginProtocolPolicy": "https-only",
                        },
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "origin",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
            },
        }
    )["Distribution"]
    with lock:
        received.clear()

    from moto.cloudfront.models import cloudfront_backends

    def ours():
        for account in cloudfront_backends.values():
            for backend in account.values():
                if dist["Id"] in backend.invalidations:
                    return backend.invalidations[dist["Id"]]
        return []

    print(
        json.dumps(
            {
                "endpoint": endpoint,
                "access_key_id": key["AccessKeyId"],
                "secret_access_key": key["SecretAccessKey"],
                "session": {
                    "access_key_id": session["AccessKeyId"],
                    "secret_access_key": session["SecretAccessKey"],
                    "session_token": session["SessionToken"],
                },
                "distribution_id": dist["Id"],
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "requests":
            with lock:
                answer = list(received)
                received.clear()
        elif words[0] == "invalidations":
            answer = [
                {"id": i.id, "caller_reference": i.caller_ref, "paths": list(i.paths)}
                for i in ours()
            ]
        elif words[0] == "drop":
            with lock:
                dropped[0] += int(words[1])
            answer = "ok"
        elif words[0] == "inprogress":
            with lock:
                in_progress[0] += int(words[1])
            answer = "ok"
        elif words[0] == "fail":
            with lock:
                faults.extend([int(words[2])] * int(words[1]))
            answer = "ok"
        else:
            answer = {"error": f"unknown command {words[0]}"}
        print(json.dumps(answer), flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
