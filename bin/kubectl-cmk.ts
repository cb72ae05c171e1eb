#!/usr/bin/env node
import { kubectlCmkCommand } from '../src/cli/kubectl-cmk.ts';

process.exitCode = await kubectlCmkCommand(process.argv.slice(2));
