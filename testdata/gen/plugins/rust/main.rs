//! The Rust plugin of cmd/airlock's gen tests, on bindings generated from
//! testdata/gen/hostdef's contract (contract.rs, beside it).
mod contract;

use airlock_plugin::{Context, Error, Level, Plugin};

use contract::{Invoice, RateQuery, Verdict};

fn check(ctx: &Context, inv: Invoice) -> Result<Verdict, Error> {
    let cfg = contract::settings(ctx)?;
    let rates = contract::rates_lookup(ctx, RateQuery { currency: inv.currency.clone(), day: None })?;
    let mut total = 0.0;
    for line in inv.lines.unwrap_or_default() {
        total += line.quantity as f64 * line.price;
    }
    total = total * rates.rate - inv.discount.unwrap_or(0.0);
    if let Some(r) = cfg.ratio {
        total *= r;
    }
    let mut flags: Vec<String> = inv.tags.unwrap_or_default().into_keys().collect();
    let mut score = None;
    match inv.note {
        None => flags.push("no-note".to_string()),
        Some(_) => score = Some(inv.priority * 10),
    }
    if !inv.meta.is_null() {
        flags.push("meta".to_string());
    }
    flags.push(format!("h{}", rates.history.map_or(0, |h| h.len())));
    flags.push(format!("w{}", cfg.workers));
    if let Some(r) = &cfg.regions {
        flags.push(format!("r{}", r.len()));
    }
    if cfg.strict {
        flags.push("strict".to_string());
    }
    Ok(Verdict {
        approved: total < 1000.0,
        reason: Some(format!("{}:{}/{}/p{}", cfg.greeting, inv.customer.name, inv.currency, inv.priority)),
        total,
        flags: Some(flags),
        score,
    })
}

/// An after handler: it logs what the hook was given and answered.
fn noted(ctx: &Context, text: String, answer: bool) -> Result<(), Error> {
    ctx.log(Level::Info, &format!("after note.add: {text} -> {answer}"));
    Ok(())
}

fn main() {
    let p = contract::register_invoice_check(Plugin::new("gen-rust", "1.0.0"), check);
    contract::register_note_add_after(p, noted).run();
}
