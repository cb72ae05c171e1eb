#!/usr/bin/env node
import { endQuietlyWhenOutputCloses } from '../src/cli/command.ts';
import { kubectlCmkCommand } from '../src/cli/kubectl-cmk.ts';

endQuietlyWhenOutputCloses();
process.exitCode = await kubectlCmkCommand(process.argv.slice(2));
