import type { ArgumentsCamelCase, Argv } from "yargs";
import { liveStartTime } from "../../common/process";
import { UserError } from "../../errors";
import { RpcSession } from "../rpc-server";
import { LineSplitter, MAX_MESSAGE_BYTES } from "../rpc-wire";

/** `skyplane rpc --stdio`: the library served over stdin and stdout (the Python package's Node side). */
export const command = "rpc";
/** One line for --help. */
export const describe =
  "Serve the library to another program (the Python package) as JSON lines on stdin and stdout; see python/PROTOCOL.md";

interface RpcArgs {
  stdio: boolean;
  heartbeatMs: number;
}

/** How often the server checks that the process that started it still runs. */
const PARENT_CHECK_MS = 500;

/** Options of `skyplane rpc`. */
export function builder(y: Argv): Argv<RpcArgs> {
  return y
    .option("stdio", {
      type: "boolean",
      default: false,
      describe: "Speak the protocol on stdin and stdout (the one transport there is)",
    })
    .option("heartbeat-ms", {
      type: "number",
      default: 2000,
      describe: "Milliseconds between heartbeat events, by which the peer knows this side is alive",
    })
    .check((a) => {
      if (!a.stdio)
        throw new UserError("USAGE", "skyplane rpc needs --stdio, the one transport it speaks");
      const ms = (a as { heartbeatMs?: number }).heartbeatMs;
      if (!(typeof ms === "number" && ms >= 10))
        throw new UserError("USAGE", "--heartbeat-ms takes a number of milliseconds, 10 or more");
      return true;
    }) as unknown as Argv<RpcArgs>;
}

/**
 * Serves one session until its input ends, the process that started it dies, or a signal comes; then
 * tears down what the session left under auto-deprovision and exits (0, or 2 when a teardown failed).
 */
export async function handler(args: ArgumentsCamelCase<RpcArgs>): Promise<void> {
  process.exit(await serveStdio(args.heartbeatMs));
}

/** Runs a session on this process's stdin and stdout; resolves to the exit status. */
export function serveStdio(heartbeatMs: number): Promise<number> {
  // stdout is the protocol's alone: whatever else writes to it (a library's console.log) goes to stderr.
  const out = process.stdout.write.bind(process.stdout) as (line: string) => boolean;
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  let peerGone = false;
  // EPIPE once the peer died: nothing more is written, the teardown goes on (an unhandled EPIPE on
  // stderr, where it logs, would end this process before its teardown).
  process.stdout.on("error", () => (peerGone = true));
  process.stderr.on("error", () => undefined);
  const write = (line: string) => {
    if (peerGone) return;
    try {
      out(line);
    } catch {
      peerGone = true;
    }
  };
  const session = new RpcSession({
    write,
    heartbeatMs,
    log: (line) => process.stderr.write(line + "\n"),
  });
  const splitter = new LineSplitter(
    MAX_MESSAGE_BYTES,
    (line) => session.receive(line),
    (bytes) => session.refuseOversized(bytes),
  );
  return new Promise((resolve) => {
    let ending = false;
    // The peer's death shows as the end of stdin; a parent that handed the pipe on is watched too.
    const parent = process.ppid;
    const parentStarted = liveStartTime(parent);
    const watch = setInterval(() => {
      if (liveStartTime(parent) !== parentStarted) end("the process that started this one is gone");
    }, PARENT_CHECK_MS);
    const onSignal = (sig: NodeJS.Signals) => {
      if (ending) {
        process.stderr.write(
          `skyplane rpc: ${sig} again: exiting without the teardown ('skyplane deprovision -y' does it)\n`,
        );
        process.exit(130);
      }
      end(sig);
    };
    const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
    for (const sig of signals) process.on(sig, onSignal);
    function end(reason: string): void {
      if (ending) return;
      ending = true;
      clearInterval(watch);
      process.stdin.pause();
      void session.close(reason).then((ok) => resolve(ok ? 0 : 2));
    }
    process.stdin.on("data", (chunk: Buffer) => splitter.push(chunk));
    process.stdin.on("end", () => {
      splitter.end();
      end("end of input");
    });
    process.stdin.on("error", () => end("input failed"));
  });
}
