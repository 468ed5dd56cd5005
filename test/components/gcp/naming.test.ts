import * as assert from "node:assert/strict";
import { customRoleId, dataplaneId } from "../../../components/gcp/naming";

/*
 * The GCP names a project makes unique: two routes' stacks in one project never share an account, a
 * secret or a role, and a role id is never asked for twice (GCP refuses a deleted role's id for 37 days).
 */
describe("components/gcp: names unique per stack and per account", () => {
  const ACCOUNT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/; // GCP's rule for a service account's id
  const ROLE_ID = /^[a-zA-Z0-9_.]{3,64}$/; // and for a custom role's

  it("gives each project, stack and component an id of its own, within GCP's limits", () => {
    const cases = [
      ["proj", "aws-us-east-1--gcp-us-central1", "dataplane-gcp"],
      ["proj", "aws-us-east-1--gcp-us-central1-b", "dataplane-gcp"],
      ["proj", "aws-eu-west-1--gcp-us-central1", "dataplane-gcp"],
      ["other", "aws-us-east-1--gcp-us-central1", "dataplane-gcp"],
      ["proj", "aws-us-east-1--gcp-us-central1", "dataplane-gcp2"],
      ["proj", "9-".repeat(80), "dataplane-gcp"],
      ["proj", "", "dataplane-gcp"],
    ] as const;
    const ids = cases.map(([p, s, c]) => dataplaneId(p, s, c));
    assert.equal(new Set(ids).size, cases.length, ids.join(" "));
    for (const id of ids) {
      assert.match(`skyplane-${id}`, ACCOUNT_ID);
      assert.match(customRoleId(id, "self_delete", "1".padEnd(21, "9")), ROLE_ID);
    }
    // The same stack gets the same id on every run, so an update never renames its account.
    assert.equal(dataplaneId(...cases[0]), ids[0]);
    // Stacks whose names share their first characters differ by the hash.
    assert.equal(ids[0].slice(0, 11), ids[1].slice(0, 11));
  });

  it("makes a new role id for a new account under the same stack", () => {
    const id = dataplaneId("proj", "route", "dataplane-gcp");
    const before = customRoleId(id, "read", "100000000000000000001");
    const after = customRoleId(id, "read", "100000000000000000002");
    assert.notEqual(before, after);
    assert.deepEqual(
      [before, after].map((r) => ROLE_ID.test(r)),
      [true, true],
    );
  });
});
