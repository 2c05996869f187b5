#!/usr/bin/env -S deno run -A
// Copyright the chitchat for Deno authors. MIT license.
/**
 * `deno task simulate`: the simulation scenarios for several seeds, one
 * table of medians (see tests/_simulation/simulate_command.ts, which the
 * simulation tests share).
 *
 * @module
 */

import { main } from "../tests/_simulation/simulate_command.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
