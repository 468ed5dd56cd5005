export {
  LocalProcess,
  LocalProcessProvider,
  isSameProcess,
  liveStartTime,
  parseProcStat,
  stopProcess,
} from "./process";
export type {
  LocalProcessArgs,
  LocalProcessInputs,
  LocalProcessOutputs,
  ProcStat,
} from "./process";
