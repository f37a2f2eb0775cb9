/* The C plugin (wasm tier) of cmd/airlock's gen tests, on bindings
 * generated from testdata/gen/hostdef's contract (contract.h, contract.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airlock.h"
#include "contract.h"

AIRLOCK_PLUGIN("gen-c", "1.0.0", "invoice.check", "note.add")

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *dup(const char *s) {
    char *d = malloc(strlen(s) + 1);
    if (d) strcpy(d, s);
    return d;
}

static int check(const char *phase, const contract_invoice *in, contract_verdict *out) {
    (void)phase;
    if (strcmp(in->customer.name, "misspell") == 0) {
        /* What C's types cannot stop: raw JSON. The host refuses it. */
        airlock_result("{\"aproved\":true,\"total\":0,\"flags\":[],\"score\":null}");
        return 1;
    }
    contract_settings cfg;
    char *message = NULL;
    int code = contract_load_settings(&cfg, &message);
    if (code != 0) {
        airlock_error(code, message ? message : "settings");
        free(message);
        return 1;
    }
    contract_rate_query q = {0};
    contract_rate_answer rates = {0};
    q.currency = in->currency;
    code = contract_rates_lookup(&q, &rates, &message);
    if (code != 0) {
        airlock_error(code, message ? message : "rates.lookup failed");
        free(message);
        contract_settings_free(&cfg);
        return 1;
    }
    double total = 0;
    for (size_t i = 0; i < in->lines_len; i++) total += (double)in->lines[i].quantity * in->lines[i].price;
    total = total * rates.rate - (in->has_discount ? in->discount : 0);
    if (cfg.has_ratio) total *= cfg.ratio;

    out->flags = calloc(in->tags_len + 6, sizeof *out->flags);
    out->has_flags = 1;
    for (size_t i = 0; i < in->tags_len; i++) out->flags[out->flags_len++] = dup(in->tags_keys[i]);
    qsort(out->flags, out->flags_len, sizeof *out->flags, by_name);
    if (!in->note) {
        out->flags[out->flags_len++] = dup("no-note");
    } else {
        out->score = in->priority * 10;
        out->has_score = 1;
    }
    if (in->meta && strcmp(in->meta, "null") != 0) out->flags[out->flags_len++] = dup("meta");
    char h[32], reason[300];
    snprintf(h, sizeof h, "h%zu", rates.history_len);
    out->flags[out->flags_len++] = dup(h);
    snprintf(h, sizeof h, "w%lld", cfg.workers);
    out->flags[out->flags_len++] = dup(h);
    if (cfg.has_regions) {
        snprintf(h, sizeof h, "r%zu", cfg.regions_len);
        out->flags[out->flags_len++] = dup(h);
    }
    if (cfg.strict) out->flags[out->flags_len++] = dup("strict");
    snprintf(reason, sizeof reason, "%s:%s/%s/p%lld", cfg.greeting, in->customer.name, in->currency, in->priority);
    out->reason = dup(reason);
    out->total = total;
    out->approved = total < 1000;
    contract_rate_answer_free(&rates);
    contract_settings_free(&cfg);
    return 0;
}

/* An after handler: it logs what the hook was given and answered. */
static int noted(const char *text, int answer) {
    char line[300];
    snprintf(line, sizeof line, "after note.add: %s -> %s", text, answer ? "true" : "false");
    airlock_log("info", line);
    return 0;
}

static const contract_hooks hooks = {.invoice_check = check, .note_add_after = noted};

void airlock_handle(const char *name, const char *phase, const char *input) {
    if (!contract_handle(&hooks, name, phase, input)) airlock_error(AIRLOCK_NOT_IMPLEMENTED, "not a hook of this plugin");
}
