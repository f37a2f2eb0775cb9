// A plugin with a misspelled field: tsc refuses it (cmd/airlock's gen tests).
import type { Verdict } from "./contract.js";

export const v: Verdict = { aproved: true, total: 0, flags: [], score: null };
