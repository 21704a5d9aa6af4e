//! The long run of the decoder properties: the same functions that `cargo test -p protocol` and
//! `cargo test -p roblox` run with 256 cases each (`protocol/tests/it/decoders.rs`,
//! `roblox/tests/it/decoders.rs`, on the generators of `protocol/tests/it/strategies.rs`, all
//! included here by path), with many more cases: never a panic, every refusal a sentence naming
//! the field at fault, round trips stable.
//!
//! `cargo bench -p benches --bench decoders` runs every property with
//! `CLASSHUB_DECODER_CASES` cases (default 100 000) and prints the time each took; an argument
//! keeps only the properties whose name contains it. Run without `--bench` (as
//! `cargo test --benches` does), it runs the test-sized 256 cases. A failing property panics
//! with the smallest input proptest could shrink it to.

use std::time::Instant;

use anyhow::Context;

#[path = "../../protocol/tests/it/decoders.rs"]
mod protocol_decoders;
#[path = "../../roblox/tests/it/decoders.rs"]
mod roblox_decoders;
#[path = "../../protocol/tests/it/strategies.rs"]
mod strategies;

/// Cases per property in the long run, unless `CLASSHUB_DECODER_CASES` says otherwise.
const LONG_RUN_CASES: u32 = 100_000;

fn main() -> anyhow::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let long_run = arguments.iter().any(|argument| argument == "--bench");
    let filter = arguments
        .iter()
        .find(|argument| !argument.starts_with("--"))
        .cloned()
        .unwrap_or_default();
    let cases = match std::env::var("CLASSHUB_DECODER_CASES") {
        Ok(cases) => cases.parse().with_context(|| {
            format!("CLASSHUB_DECODER_CASES={cases:?} is not a number of cases")
        })?,
        Err(_) if long_run => LONG_RUN_CASES,
        Err(_) => strategies::DEFAULT_CASES,
    };
    let groups = [
        ("protocol", protocol_decoders::PROPERTIES),
        ("roblox", roblox_decoders::PROPERTIES),
    ];
    let started = Instant::now();
    let mut ran = 0;
    for (crate_name, properties) in groups {
        for (name, property) in properties {
            if !name.contains(filter.as_str()) {
                continue;
            }
            let property_started = Instant::now();
            property(cases);
            let seconds = property_started.elapsed().as_secs_f64();
            let label = format!("decoders/{crate_name}/{name}");
            println!(
                "{label:<46} {cases:>8} cases  {seconds:>7.1} s  {:>9.0} cases/s",
                f64::from(cases) / seconds
            );
            ran += 1;
        }
    }
    println!(
        "{ran} properties held for {cases} cases each in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
