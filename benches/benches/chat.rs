//! The school's chat blocklist, the one screen every student message passes on its way to the
//! class (`server::chat::ChatRules::blocked_words`): a 200-character message against an empty
//! list, 50 entries and the most a school may keep by default (500, `--chat-blocklist-max-words`),
//! with no entry found (the common case) and with one found.
//!
//! `cargo bench -p benches --bench chat`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use persistence::ChatRulesSnapshot;
use server::chat::{ChatRules, ChatSettings};

/// Made-up entries `w0000abc` … so none is a word of the message by accident.
fn blocklist(size: usize) -> Vec<String> {
    (0..size).map(|index| format!("w{index:04}abc")).collect()
}

/// A 200-character message; `blocked` puts the list's first entry in its middle.
fn message(blocked: Option<&str>) -> String {
    let filler =
        "Is two quarters the same as one half? I think so because the pizza was cut in four ";
    let mut text = filler.repeat(3);
    text.truncate(200);
    if let Some(word) = blocked {
        let word = format!(" {word} ");
        text.replace_range(100..100 + word.len(), &word);
    }
    text
}

fn blocked_words(c: &mut Criterion) {
    let mut group = c.benchmark_group("chat/blocklist");
    group.throughput(Throughput::Elements(1));
    for size in [0usize, 50, 500] {
        let words = blocklist(size);
        let snapshot = ChatRulesSnapshot {
            blocklists: vec![("school".to_owned(), words.clone())],
            ..ChatRulesSnapshot::default()
        };
        let rules = ChatRules::new(ChatSettings::default(), snapshot);
        let clean = message(None);
        group.bench_with_input(BenchmarkId::new("clean", size), &clean, |b, text| {
            b.iter(|| rules.blocked_words("school", text));
        });
        if let Some(first) = words.first() {
            let flagged = message(Some(first));
            assert_eq!(rules.blocked_words("school", &flagged).len(), 1);
            group.bench_with_input(BenchmarkId::new("flagged", size), &flagged, |b, text| {
                b.iter(|| rules.blocked_words("school", text));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, blocked_words);
criterion_main!(benches);
