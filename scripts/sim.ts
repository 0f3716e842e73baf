#!/usr/bin/env node
/**
 * `xiaozhi-sim`: a simulated xiaozhi device on the command line. All logic is in
 * src/sim/cli.ts; this file only connects it to the process.
 */
import { runSimCli } from '../src/sim/cli';

runSimCli(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status;
  },
  (err: unknown) => {
    console.error(`xiaozhi-sim: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  },
);
