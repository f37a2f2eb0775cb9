// The TypeScript plugin of cmd/airlock's gen tests, on bindings generated
// from testdata/gen/hostdef's contract (contract.ts, beside it).
import { Plugin } from "@airlock-go/plugin";
import type { Context } from "@airlock-go/plugin";
import { ratesLookup, registerAfterHooks, registerHooks, settings } from "./contract.js";
import type { Invoice, Verdict } from "./contract.js";

async function check(ctx: Context, inv: Invoice): Promise<Verdict> {
  if (inv.customer.name === "misspell") {
    // What a cast lets through: the host refuses it.
    return { aproved: true, total: 0, flags: [], score: null } as unknown as Verdict;
  }
  const cfg = settings(ctx);
  const rates = await ratesLookup(ctx, { currency: inv.currency });
  let total = 0;
  for (const line of inv.lines ?? []) total += line.quantity * line.price;
  total = total * rates.rate - (inv.discount ?? 0);
  if (cfg.ratio !== undefined) total *= cfg.ratio;
  const flags = Object.keys(inv.tags ?? {}).sort();
  let score: number | null = null;
  if (inv.note === null) flags.push("no-note");
  else score = inv.priority * 10;
  if (inv.meta !== undefined && inv.meta !== null) flags.push("meta");
  flags.push(`h${rates.history?.length ?? 0}`, `w${cfg.workers}`);
  if (cfg.regions !== undefined) flags.push(`r${cfg.regions.length}`);
  if (cfg.strict) flags.push("strict");
  return {
    approved: total < 1000,
    reason: `${cfg.greeting}:${inv.customer.name}/${inv.currency}/p${inv.priority}`,
    total,
    flags,
    score,
  };
}

const plugin = new Plugin({ name: "gen-typescript", version: "1.0.0" });
registerHooks(plugin, { "invoice.check": check });
// An after handler: it logs what the hook was given and answered.
registerAfterHooks(plugin, {
  "note.add": async (ctx, text, answer) => {
    await ctx.log("info", `after note.add: ${text} -> ${answer}`);
  },
});
await plugin.run();
