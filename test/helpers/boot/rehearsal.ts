import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { skyplaneCache } from "../../../common/paths";
import { ec2UserData } from "../../../components/aws/gateway";
import type { ArtifactRef, BootSpec, SecretRef } from "../../../gateway-image/boot";
import { GATEWAY_PROGRAM_VERSION, GatewayProgram } from "../../../planner/program";
import { createRehearsalNetwork, METADATA_IP, RehearsalNetwork } from "./netns";
import type { StandinEndpoints, StandinStart } from "./standins-main";
import type { ServedRequest, VmIdentity } from "./standins";
import { RehearsalVm, startVm } from "./vm";

/*
 * One cloud's rehearsal: the two VMs' namespaces, each VM's cloud (standins-main.ts) inside its own,
 * the stores seeded as a stack would (the gateway bundle in the artifacts store under its sha256, the
 * dataplane's secret in the secret store, the buckets), the boot specs that differ from the cloud's
 * only in their endpoints and the Node tarball's address, and the VMs booted from the rendered user data.
 * `close` removes everything, whatever state the test left it in.
 */

/** The clouds rehearsed. */
export type CloudName = "aws" | "gcp" | "azure";
/** Which VM. */
export type Role = "src" | "dst";

/** The Node tarball scripts/setup-node-tarball.sh made from this machine's Node. */
export function nodeTarball(): { file: string; version: string; sha256: string } {
  const dir = path.join(skyplaneCache(), "node-tarball");
  const version = process.version;
  const name = `node-${version}-linux-${process.arch}.tar.xz`;
  const sums = path.join(dir, "SHASUMS256.txt");
  const line = fs.existsSync(sums)
    ? fs
        .readFileSync(sums, "utf8")
        .split("\n")
        .find((l) => l.endsWith(`  ${name}`))
    : undefined;
  if (!line || !fs.existsSync(path.join(dir, name)))
    throw new Error(
      `no ${name} in ${dir}: run 'bash scripts/setup-node-tarball.sh' (or scripts/setup.sh)`,
    );
  return { file: path.join(dir, name), version, sha256: line.slice(0, 64) };
}

/** A self-signed CA and a certificate for 127.0.0.1 it signed (openssl), for the TLS stand-ins. */
function makeTls(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string) => path.join(dir, n);
  const ssl = (...args: string[]) =>
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  ssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=skyplane rehearsal CA",
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
  );
  ssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    f("tls.key"),
    "-out",
    f("tls.csr"),
  );
  fs.writeFileSync(f("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n");
  ssl(
    "x509",
    "-req",
    "-in",
    f("tls.csr"),
    "-CA",
    f("ca.pem"),
    "-CAkey",
    f("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    f("ext.cnf"),
    "-out",
    f("tls.pem"),
  );
  return { ca: fs.readFileSync(f("ca.pem"), "utf8"), cert: f("tls.pem"), key: f("tls.key") };
}

/** The identities and places of each cloud's two VMs. */
export const PLACES: Record<CloudName, Record<Role, { identity: VmIdentity; region: string }>> = {
  aws: {
    src: {
      identity: {
        cloud: "aws",
        instanceId: "i-0a1b2c3d4e5f60001",
        region: "us-east-1",
        zone: "us-east-1a",
      },
      region: "aws:us-east-1",
    },
    dst: {
      identity: {
        cloud: "aws",
        instanceId: "i-0a1b2c3d4e5f60002",
        region: "us-west-2",
        zone: "us-west-2a",
      },
      region: "aws:us-west-2",
    },
  },
  gcp: {
    src: {
      identity: {
        cloud: "gcp",
        name: "skyplane-gw-src-0",
        project: "skyplane-rehearsal",
        projectNumber: "123456789012",
        zone: "us-central1-a",
        serviceAccount: "skyplane-gateway@skyplane-rehearsal.iam.gserviceaccount.com",
      },
      region: "gcp:us-central1-a",
    },
    dst: {
      identity: {
        cloud: "gcp",
        name: "skyplane-gw-dst-0",
        project: "skyplane-rehearsal",
        projectNumber: "123456789012",
        zone: "europe-west1-b",
        serviceAccount: "skyplane-gateway@skyplane-rehearsal.iam.gserviceaccount.com",
      },
      region: "gcp:europe-west1-b",
    },
  },
  azure: {
    src: {
      identity: {
        cloud: "azure",
        name: "skyplane-gw-src-0",
        subscription: "00000000-1111-2222-3333-444444444444",
        resourceGroup: "skyplane-rehearsal",
        tenant: "55555555-6666-7777-8888-999999999999",
        location: "eastus",
      },
      region: "azure:eastus",
    },
    dst: {
      identity: {
        cloud: "azure",
        name: "skyplane-gw-dst-0",
        subscription: "00000000-1111-2222-3333-444444444444",
        resourceGroup: "skyplane-rehearsal",
        tenant: "55555555-6666-7777-8888-999999999999",
        location: "westeurope",
      },
      region: "azure:westeurope",
    },
  },
};

/** The VM's name in its cloud. */
export function vmName(id: VmIdentity): string {
  return id.cloud === "aws" ? id.instanceId : id.name;
}

/** One VM's cloud, as the test drives it. */
export interface VmCloud {
  readonly role: Role;
  readonly ns: string;
  readonly ip: string;
  readonly endpoints: StandinEndpoints;
  /** Requests served so far. */
  readonly served: ServedRequest[];
  /** Delete calls (GCP, Azure) so far. */
  readonly deletes: { by: string; at: number }[];
  call<T>(method: string, params: unknown): Promise<T>;
}

/** A cloud's rehearsal, up. */
export class Rehearsal {
  private readonly standins: ChildProcess[] = [];
  private readonly vms: RehearsalVm[] = [];
  readonly clouds = {} as Record<Role, VmCloud>;
  /** The VM currently booted in each namespace (a delete there ends it). */
  private readonly current = new Map<Role, RehearsalVm>();
  readonly tls: { ca: string; cert: string; key: string };
  readonly node = nodeTarball();

  private constructor(
    readonly cloud: CloudName,
    readonly dir: string,
    readonly network: RehearsalNetwork,
  ) {
    this.tls = makeTls(dir);
  }

  /** Makes the network and starts both VMs' clouds. */
  static async create(cloud: CloudName): Promise<Rehearsal> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `skyplane-boot-${cloud}-`));
    const tag = crypto.randomBytes(3).toString("hex").slice(0, 5);
    let network: RehearsalNetwork | undefined;
    let r: Rehearsal | undefined;
    try {
      network = await createRehearsalNetwork(tag);
      r = new Rehearsal(cloud, dir, network);
      await Promise.all((["src", "dst"] as const).map((role) => r!.startCloud(role)));
      return r;
    } catch (err) {
      if (r) await r.close();
      else {
        await network?.remove();
        fs.rmSync(dir, { recursive: true, force: true });
      }
      throw err;
    }
  }

  private async startCloud(role: Role): Promise<void> {
    const { ns, ip } = this.network[role];
    const log = fs.openSync(path.join(this.dir, `standins-${role}.log`), "a");
    const child = spawn(
      "setpriv",
      [
        "--pdeathsig",
        "KILL",
        "ip",
        "netns",
        "exec",
        ns,
        process.execPath,
        path.join(__dirname, "standins-main.js"),
      ],
      {
        stdio: ["ignore", log, log, "ipc"],
        // Its clients trust the rehearsal's CA (Azurite speaks TLS), as the VMs do.
        env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(this.dir, "ca.pem") },
      },
    );
    fs.closeSync(log);
    this.standins.push(child);
    let next = 0;
    const pending = new Map<
      number,
      { resolve: (v: unknown) => void; reject: (e: Error) => void }
    >();
    const served: ServedRequest[] = [];
    const deletes: { by: string; at: number }[] = [];
    child.on(
      "message",
      (m: { id?: number; result?: unknown; error?: string; event?: string; detail?: unknown }) => {
        if (m.event === "request") served.push(m.detail as ServedRequest);
        else if (m.event === "deleted") {
          deletes.push(m.detail as { by: string; at: number });
          // The cloud deletes the VM: it stops at once.
          void this.current.get(role)?.kill();
        } else if (m.id !== undefined) {
          const p = pending.get(m.id);
          pending.delete(m.id);
          if (m.error !== undefined) p?.reject(new Error(`${role} stand-ins: ${m.error}`));
          else p?.resolve(m.result);
        }
      },
    );
    child.once("exit", (code) => {
      for (const p of pending.values())
        p.reject(
          new Error(`${role} stand-ins exited (${code}); see ${this.dir}/standins-${role}.log`),
        );
      pending.clear();
    });
    const call = <T>(method: string, params: unknown) =>
      new Promise<T>((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, method, params });
      });
    const start: StandinStart = {
      identity: PLACES[this.cloud][role].identity,
      dir: path.join(this.dir, `cloud-${role}`),
      nodeTarball: { file: this.node.file, version: this.node.version },
      tls: { cert: this.tls.cert, key: this.tls.key },
      vault: "skyplane-rehearsal",
    };
    const endpoints = await call<StandinEndpoints>("start", start);
    this.clouds[role] = { role, ns, ip, endpoints, served, deletes, call };
  }

  /** The bucket URI of a store in this cloud (`azure://account/container` on Azure). */
  bucket(name: string): string {
    switch (this.cloud) {
      case "aws":
        return `s3://${name}`;
      case "gcp":
        return `gs://${name}`;
      case "azure":
        return `azure://devstoreaccount1/${name}`;
    }
  }

  /** Puts the gateway bundle in `role`'s artifacts store, under its sha256; returns where. */
  async stageBundle(
    role: Role,
    bundle: { path: string; sha256: string; file: string },
  ): Promise<ArtifactRef> {
    const c = this.clouds[role];
    const key = `gateway/${bundle.sha256}/${bundle.file}`;
    const region = PLACES[this.cloud][role].region;
    await c
      .call("createBucket", { uri: this.bucket("skyplane-artifacts"), region })
      .catch((e: Error) => {
        if (!/exist|CONFLICT/i.test(e.message)) throw e;
      });
    await c.call("put", { uri: this.bucket("skyplane-artifacts"), key, file: bundle.path });
    switch (this.cloud) {
      case "aws":
        return {
          provider: "aws",
          region: (PLACES.aws[role].identity as { region: string }).region,
          bucket: "skyplane-artifacts",
          key,
        };
      case "gcp":
        return { provider: "gcp", bucket: "skyplane-artifacts", object: key };
      case "azure":
        return {
          provider: "azure",
          account: "devstoreaccount1",
          container: "skyplane-artifacts",
          blob: key,
        };
    }
  }

  /** Puts the dataplane's secret (null: one the VM may not read) in `role`'s secret store. */
  async stageSecret(role: Role, name: string, value: string | null): Promise<SecretRef> {
    const id = await this.clouds[role].call<string>("secret", { name, value });
    const identity = PLACES[this.cloud][role].identity;
    switch (identity.cloud) {
      case "aws":
        return { provider: "aws", secretArn: id, region: identity.region };
      case "gcp":
        return { provider: "gcp", secret: name, project: identity.project };
      case "azure":
        return { provider: "azure", vault: "skyplane-rehearsal", secret: name };
    }
  }

  /** The rehearsal's only differences from the cloud: the endpoints and the Node tarball's address. */
  bootInputs(role: Role): Pick<BootSpec, "node" | "endpoints"> {
    const c = this.clouds[role];
    return {
      node: { url: c.endpoints.nodeUrl, sha256: this.node.sha256 },
      endpoints: c.endpoints.endpoints,
    };
  }

  /** A gateway program of this cloud's `role` gateway. */
  program(
    role: Role,
    opts: { srcBucket: string; dstBucket: string; dataPort: number },
  ): GatewayProgram {
    const id = (r: Role) => `${PLACES[this.cloud][r].region.replace(/:/g, "-")}-0`;
    if (role === "src")
      return {
        version: GATEWAY_PROGRAM_VERSION,
        gatewayId: id("src"),
        region: PLACES[this.cloud].src.region,
        operators: [
          {
            op: "read_object_store",
            bucket: opts.srcBucket,
            next: {
              op: "send",
              target: { gatewayId: id("dst"), host: this.network.dst.ip, port: opts.dataPort },
              connections: 2,
              compress: "zstd",
              encrypt: true,
            },
          },
        ],
      };
    return {
      version: GATEWAY_PROGRAM_VERSION,
      gatewayId: id("dst"),
      region: PLACES[this.cloud].dst.region,
      operators: [
        {
          op: "receive",
          encrypted: true,
          next: { op: "write_object_store", bucket: opts.dstBucket },
        },
      ],
    };
  }

  /**
   * Boots a VM in `role`'s namespace from a rendered boot script, delivered as the cloud delivers the
   * components' user data: EC2's (gzip-compressed past 16 KB); GCP's `user-data` metadata and Azure's
   * custom data (base64, which Azure's datasource decodes) reach cloud-init as the script itself.
   */
  async boot(
    role: Role,
    script: string,
    label: string,
    bridges: number[] = [],
  ): Promise<RehearsalVm> {
    let userData: string | Buffer = script;
    if (this.cloud === "aws") {
      const ec2 = ec2UserData(script);
      userData = ec2.userDataBase64
        ? Buffer.from(ec2.userDataBase64, "base64")
        : (ec2.userData ?? "");
    }
    const identity = PLACES[this.cloud][role].identity;
    const vm = await startVm({
      name: vmName(identity),
      ns: this.network[role].ns,
      dir: path.join(this.dir, `vm-${label}`),
      userData,
      hosts: { [METADATA_IP]: ["metadata.google.internal", "metadata"] },
      caPem: this.tls.ca,
      bridges,
    });
    this.vms.push(vm);
    this.current.set(role, vm);
    return vm;
  }

  /** Ends every VM and stand-in, removes the namespaces and the folder. */
  async close(): Promise<void> {
    for (const vm of this.vms) await vm.kill().catch(() => undefined);
    for (const s of this.standins)
      if (s.exitCode === null && s.signalCode === null) s.kill("SIGKILL");
    await this.network.remove();
    if (!process.env.SKYPLANE_KEEP_REHEARSAL) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
