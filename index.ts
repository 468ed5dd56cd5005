import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { LocalProcess } from "./components/local";
import { skyplaneHome } from "./runner/home";

/** One process of the stack's `skyplane:processes` config. */
export interface ProcessSpec {
  /** Program and arguments. */
  command: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/**
 * The Pulumi program of a route's stack. The Automation API runs it inline; `pulumi up --stack <route>`
 * runs the compiled copy (dist/index.js) through the language host. It reads the stack's config and
 * builds the local processes it names; the gateway topology replaces this config as the dataplane grows.
 */
export default async function program(): Promise<Record<string, unknown>> {
  const config = new pulumi.Config("skyplane");
  const processes = config.getObject<Record<string, ProcessSpec>>("processes") ?? {};
  const logDir = path.join(skyplaneHome(), "logs", pulumi.getStack());
  const pids: Record<string, pulumi.Output<number>> = {};
  for (const name of Object.keys(processes).sort()) {
    const spec = processes[name];
    const proc = new LocalProcess(name, {
      command: spec.command,
      env: spec.env,
      logFile: path.join(logDir, `${name}.log`),
    });
    pids[name] = proc.pid;
  }
  return { pids };
}
