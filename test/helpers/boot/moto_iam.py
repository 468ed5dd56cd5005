"""IAM for the AWS boot rehearsal, on a moto server started with INITIAL_NO_AUTH_ACTION_COUNT=3.

moto then checks every request after the first three as AWS does: the SigV4 signature against the
access key's secret, and the caller's IAM policies. The first three make an administrator (user,
policy, access key); everything else is signed with its key (boto3) or with the instance role's
temporary credentials, which the metadata stand-in hands to the VM. Reads one JSON request on stdin,
writes one JSON answer on stdout:

  {"op": "setup", "endpoint", "region", "policy"}  → {"admin": {...}, "role": {...}}
  {"op": "secret", "endpoint", "region", "admin", "name", "value", "deleted"}  → {"arn"}
"""

import json
import sys

import boto3

ACCOUNT = "123456789012"
ROLE = "skyplane-gateway"


def client(service, req, keys=None):
    keys = keys or {"id": "bootstrap", "key": "bootstrap"}
    return boto3.client(
        service,
        endpoint_url=req["endpoint"],
        region_name=req["region"],
        aws_access_key_id=keys["id"],
        aws_secret_access_key=keys["key"],
    )


def setup(req):
    iam = client("iam", req)
    iam.create_user(UserName="rehearsal-admin")
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="rehearsal-admin", PolicyName="all", PolicyDocument=json.dumps(everything))
    key = iam.create_access_key(UserName="rehearsal-admin")["AccessKey"]
    admin = {"id": key["AccessKeyId"], "key": key["SecretAccessKey"]}
    iam = client("iam", req, admin)
    # The instance profile's role; moto cannot evaluate a Service principal, so the stand-in's
    # administrator assumes it on the VM's behalf, as EC2 does for an instance profile.
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/rehearsal-admin"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=ROLE, PolicyName="gateway", PolicyDocument=json.dumps(req["policy"]))
    creds = client("sts", req, admin).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}", RoleSessionName="i-rehearsal", DurationSeconds=3600
    )["Credentials"]
    role = {
        "AccessKeyId": creds["AccessKeyId"],
        "SecretAccessKey": creds["SecretAccessKey"],
        "Token": creds["SessionToken"],
    }
    return {"admin": admin, "role": role, "roleName": ROLE}


def secret(req):
    sm = client("secretsmanager", req, req["admin"])
    arn = sm.create_secret(Name=req["name"], SecretString=req["value"])["ARN"]
    if req.get("deleted"):
        # Marked for deletion (a destroyed stack's): GetSecretValue is refused from then on.
        sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    return {"arn": arn}


if __name__ == "__main__":
    request = json.load(sys.stdin)
    answer = {"setup": setup, "secret": secret}[request["op"]](request)
    json.dump(answer, sys.stdout)
