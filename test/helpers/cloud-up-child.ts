import { AWSConfig, GCPConfig } from "../../runner";
import { CloudBucketsClient } from "./cloud-buckets";

/*
 * A copy from s3://src-bucket/x to gs://dst-bucket/x run in a process of its own, for the test that the
 * copy gets into the engine's `up` with nothing but credentials (test/api/cloud-route.test.ts). That `up`
 * fails inside the inline Pulumi program when the provider plugin dies, and the program's pending
 * registrations would stay behind in the process that ran it: in mocha's process every later inline
 * `up` would hang on them. Here they end with the process.
 *
 * Input: SKYPLANE_TEST_HOME (the client's home, buckets made here) and SKYPLANE_TEST_GCP_KEY (a key
 * file). Output: one JSON line on stdout, {code, message} of the copy's error, or {succeeded: true}.
 */
async function main(): Promise<void> {
  const home = process.env.SKYPLANE_TEST_HOME as string;
  const client = new CloudBucketsClient(
    {
      home,
      aws: new AWSConfig({ accessKeyId: "AKIAEXAMPLEEXAMPLE00", secretAccessKey: "not-a-secret" }),
      gcp: new GCPConfig({ keyFilename: process.env.SKYPLANE_TEST_GCP_KEY as string }),
    },
    { s3: "aws:us-east-1", gs: "gcp:us-central1" },
  );
  await client.makeBucket("src-bucket", { x: "some bytes" });
  await client.makeBucket("dst-bucket");
  const outcome = await client.copy({ src: "s3://src-bucket/x", dst: "gs://dst-bucket/x" }).then(
    () => ({ succeeded: true }),
    (e: Error & { code?: string }) => ({ code: e.code, message: e.message }),
  );
  process.stdout.write(JSON.stringify(outcome) + "\n");
  process.exit(0);
}

void main();
