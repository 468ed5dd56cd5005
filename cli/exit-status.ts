import { EXIT, SkyplaneError } from "../errors";

/** Errors of the machine, not ours: a folder the user cannot write, a full disk. */
const MACHINE_ERRNOS = ["EACCES", "EPERM", "ENOSPC", "EROFS", "EDQUOT"];

/** The exit status for `err`: its code's row in ERRORS; a machine's errno is the user's; else internal. */
export function exitStatus(err: unknown): number {
  if (err instanceof SkyplaneError) return err.exitStatus;
  const errno = (err as NodeJS.ErrnoException)?.code;
  return errno && MACHINE_ERRNOS.includes(errno) ? EXIT.USER : EXIT.INTERNAL;
}
