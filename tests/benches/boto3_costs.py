"""Benchmark only: the re-validation check and the delivery written the way a boto3 service would,
for the cost rows of BENCHMARKS.md (tests/benches/functions.rs runs it against the same emulator,
in the same run, as our binaries).

Reads a JSON job on stdin, prints one JSON line: CPU seconds (user + system, getrusage) and wall
seconds spent on the work alone (after the imports and the connector's session), and the peak RSS.

check: per check, the AWS calls our worker makes for an IAM-role destination (its function may
only GetItem and PutItem): the destination's item, a check slot taken and given back, the confused-deputy guard (the role assumed without the
External ID and with a wrong one, both refused), the role assumed with it, a probe object written
with a checksum through a client on those credentials, the result and its history entry.

deliver: the staged file read from the staging bucket and written into the destination through
the customer's role, as a multipart upload of the same part size and parts in flight as ours.
"""

import json
import resource
import sys
import time
import uuid

import boto3
import botocore.config
import botocore.exceptions
from boto3.s3.transfer import TransferConfig


def usage():
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def peak_rss_kb():
    """This process's own peak RSS (VmHWM), as the harness reads our binaries'. Not ru_maxrss: Linux
    carries that across exec from the process that spawned us, so it can report the parent's."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def session_of(job):
    """The function's own identity: one session for the whole run."""
    return boto3.session.Session(
        aws_access_key_id=job["accessKeyId"],
        aws_secret_access_key=job["secretAccessKey"],
        region_name=job["region"],
    )


CONFIG = botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3})


def client(session, service, job):
    return session.client(service, endpoint_url=job["endpoint"], config=CONFIG)


def client_as(session, service, job, credentials):
    """A client signing with an assumed role's session. boto3 binds credentials to a client, so
    each session needs its own, built from the one long-lived session (whose loaded service models
    it reuses), as ours builds an S3 client per session from shared settings."""
    return session.client(
        service,
        endpoint_url=job["endpoint"],
        config=CONFIG,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def connector_sts(job, session):
    """The connector's session, once, as our functions cache it."""
    connector = client(session, "sts", job).assume_role(
        RoleArn=job["connectorRoleArn"], RoleSessionName=job["connectorSessionName"]
    )
    return client_as(session, "sts", job, connector["Credentials"])


def refused(call):
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"] == "AccessDenied"
    return False


def check_once(job, session, dynamodb, sts):
    key = {name: {"S": value} for name, value in job["destinationKey"].items()}
    slot = {"PK": {"S": job["destinationKey"]["PK"]}, "SK": {"S": "BENCH#BOTO3#SLOT"}}
    item = dynamodb.get_item(TableName=job["table"], Key=key, ConsistentRead=True)
    assert "Item" in item, "the destination is stored"
    dynamodb.put_item(TableName=job["table"], Item={**slot, "held": {"N": "1"}})
    name = job["sessionName"]
    assert refused(lambda: sts.assume_role(RoleArn=job["roleArn"], RoleSessionName=name))
    assert refused(
        lambda: sts.assume_role(
            RoleArn=job["roleArn"], RoleSessionName=name, ExternalId=str(uuid.uuid4())
        )
    )
    assumed = sts.assume_role(
        RoleArn=job["roleArn"], RoleSessionName=name, ExternalId=job["externalId"]
    )
    s3 = client_as(session, "s3", job, assumed["Credentials"])
    s3.put_object(
        Bucket=job["bucket"],
        Key=f"{job['folder']}connection-test/{uuid.uuid4()}.txt",
        Body=b"connection test",
        ChecksumAlgorithm="SHA256",
    )
    now = str(time.time_ns())
    result = {"PK": {"S": job["destinationKey"]["PK"]}, "SK": {"S": "BENCH#BOTO3#RESULT"}}
    result["outcome"] = {"S": "passed"}
    dynamodb.put_item(TableName=job["table"], Item=result)
    history = {"PK": {"S": job["destinationKey"]["PK"]}, "SK": {"S": f"BENCH#BOTO3#TEST#{now}"}}
    history["outcome"] = {"S": "passed"}
    dynamodb.put_item(TableName=job["table"], Item=history)
    dynamodb.put_item(TableName=job["table"], Item={**slot, "held": {"N": "0"}})


def check(job):
    session = session_of(job)
    dynamodb = client(session, "dynamodb", job)
    sts = connector_sts(job, session)
    check_once(job, session, dynamodb, sts)  # warm, as our row's first check is not counted
    started, cpu = time.perf_counter(), usage()
    for _ in range(job["checks"]):
        check_once(job, session, dynamodb, sts)
    return time.perf_counter() - started, usage() - cpu


def deliver(job):
    session = session_of(job)
    staging = client(session, "s3", job)
    sts = connector_sts(job, session)
    started, cpu = time.perf_counter(), usage()
    assumed = sts.assume_role(
        RoleArn=job["roleArn"], RoleSessionName=job["sessionName"], ExternalId=job["externalId"]
    )
    s3 = client_as(session, "s3", job, assumed["Credentials"])
    staged = staging.get_object(Bucket=job["stagingBucket"], Key=job["stagedKey"])["Body"]
    transfer = TransferConfig(
        multipart_threshold=job["partSize"],
        multipart_chunksize=job["partSize"],
        max_concurrency=job["concurrency"],
    )
    s3.upload_fileobj(staged, job["bucket"], job["key"], Config=transfer)
    return time.perf_counter() - started, usage() - cpu


def main():
    job = json.load(sys.stdin)
    wall, cpu = {"check": check, "deliver": deliver}[job["kind"]](job)
    peak_kb = peak_rss_kb()
    print(json.dumps({"wallSeconds": wall, "cpuSeconds": cpu, "peakRssKb": peak_kb}))


if __name__ == "__main__":
    main()
