#!/usr/bin/env node
import { endQuietlyWhenOutputCloses } from '../src/cli/command.ts';
import { main } from '../src/cli/main.ts';

endQuietlyWhenOutputCloses();
process.exitCode = await main(process.argv.slice(2));
