#!/usr/bin/env node
// The CLI is TypeScript run through tsx, so `npx edge-clip` works straight after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../tool/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
