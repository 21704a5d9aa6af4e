//! The `search` scenario's content: deterministic, realistic-looking courses and lessons made
//! from a fixed vocabulary (eight subjects of thirty topic words each, fifty general classroom
//! verbs and nouns, sixty rare words) in sentence frames, and what a search over them must find.
//! Lesson `n` is always the same lesson for the same `--courses`, so a run can tell, without
//! asking the server, how many lessons hold a word, and an earlier run's database can be
//! searched again (`--no-seed`).
//!
//! Word frequencies are skewed on purpose: the first topic words of a subject and the first
//! general words are in many lessons, the last ones in few, and a rare word is in about one
//! lesson in fifty (each rare word in one in three thousand). Every word of the vocabulary has
//! its own stem (a unit test checks it roughly), so PostgreSQL's English stemmer and SQLite's
//! Porter tokenizer match exactly the lessons [`Corpus`] counts.
//!
//! Entry type: [`Corpus`] (the facts of every lesson) and its [`Corpus::plan`] (the query words
//! and filters the scenario sends, each with the number of lessons that match it). Pure: no I/O.

use serde_json::{Value, json};

/// Subjects; course `c` teaches `SUBJECTS[c % 8]`, and its lessons too.
pub const SUBJECTS: [&str; 8] = [
    "math",
    "science",
    "history",
    "geography",
    "literature",
    "art",
    "music",
    "computing",
];

/// Topic words per subject, most frequent first.
const TOPICS: [[&str; 30]; 8] = [
    [
        "fraction",
        "decimal",
        "equation",
        "integer",
        "polygon",
        "triangle",
        "angle",
        "ratio",
        "percent",
        "algebra",
        "geometry",
        "probability",
        "graph",
        "slope",
        "variable",
        "exponent",
        "perimeter",
        "area",
        "volume",
        "symmetry",
        "prime",
        "factor",
        "division",
        "matrix",
        "vector",
        "sequence",
        "inequality",
        "histogram",
        "median",
        "theorem",
    ],
    [
        "atom",
        "molecule",
        "cell",
        "energy",
        "gravity",
        "magnet",
        "circuit",
        "photosynthesis",
        "ecosystem",
        "habitat",
        "volcano",
        "earthquake",
        "fossil",
        "mineral",
        "planet",
        "orbit",
        "climate",
        "weather",
        "erosion",
        "enzyme",
        "bacteria",
        "chemical",
        "element",
        "friction",
        "velocity",
        "density",
        "evaporation",
        "organism",
        "genome",
        "nucleus",
    ],
    [
        "empire",
        "revolution",
        "treaty",
        "colony",
        "pharaoh",
        "dynasty",
        "monarchy",
        "democracy",
        "republic",
        "senate",
        "parliament",
        "crusade",
        "castle",
        "knight",
        "pyramid",
        "renaissance",
        "reformation",
        "industry",
        "railway",
        "slavery",
        "independence",
        "constitution",
        "migration",
        "civilization",
        "archaeology",
        "manuscript",
        "census",
        "pioneer",
        "frontier",
        "armistice",
    ],
    [
        "continent",
        "ocean",
        "river",
        "desert",
        "glacier",
        "mountain",
        "valley",
        "island",
        "peninsula",
        "latitude",
        "longitude",
        "equator",
        "hemisphere",
        "delta",
        "canyon",
        "plateau",
        "prairie",
        "tundra",
        "rainforest",
        "monsoon",
        "estuary",
        "archipelago",
        "population",
        "capital",
        "border",
        "meridian",
        "atlas",
        "tide",
        "reef",
        "savanna",
    ],
    [
        "poem",
        "novel",
        "sonnet",
        "metaphor",
        "simile",
        "narrator",
        "character",
        "plot",
        "theme",
        "stanza",
        "rhyme",
        "fable",
        "myth",
        "legend",
        "tragedy",
        "comedy",
        "biography",
        "essay",
        "paragraph",
        "grammar",
        "noun",
        "verb",
        "adjective",
        "syllable",
        "vocabulary",
        "dialogue",
        "prologue",
        "chapter",
        "author",
        "satire",
    ],
    [
        "painting",
        "sculpture",
        "pottery",
        "canvas",
        "palette",
        "sketch",
        "portrait",
        "landscape",
        "collage",
        "mosaic",
        "texture",
        "pigment",
        "watercolor",
        "perspective",
        "charcoal",
        "pastel",
        "mural",
        "etching",
        "gallery",
        "ceramics",
        "stencil",
        "weaving",
        "shading",
        "contour",
        "hue",
        "silhouette",
        "easel",
        "fresco",
        "clay",
        "brushwork",
    ],
    [
        "rhythm",
        "melody",
        "harmony",
        "tempo",
        "chord",
        "scale",
        "octave",
        "orchestra",
        "symphony",
        "opera",
        "choir",
        "percussion",
        "violin",
        "trumpet",
        "piano",
        "guitar",
        "drum",
        "flute",
        "lyric",
        "composer",
        "notation",
        "beat",
        "pitch",
        "dynamics",
        "staccato",
        "crescendo",
        "ballad",
        "anthem",
        "duet",
        "jazz",
    ],
    [
        "algorithm",
        "loop",
        "function",
        "database",
        "network",
        "program",
        "debug",
        "binary",
        "pixel",
        "sensor",
        "robot",
        "conditional",
        "protocol",
        "encryption",
        "password",
        "browser",
        "server",
        "spreadsheet",
        "syntax",
        "compiler",
        "recursion",
        "array",
        "boolean",
        "cursor",
        "keyboard",
        "internet",
        "software",
        "hardware",
        "byte",
        "animation",
    ],
];

/// Classroom words any lesson may use: 25 verbs, then 25 nouns, each most frequent first.
const GENERAL: [&str; 50] = [
    "practice",
    "explore",
    "compare",
    "review",
    "observe",
    "measure",
    "describe",
    "explain",
    "predict",
    "investigate",
    "summarize",
    "classify",
    "discuss",
    "create",
    "design",
    "analyze",
    "solve",
    "build",
    "sort",
    "estimate",
    "present",
    "model",
    "record",
    "question",
    "challenge",
    "diagram",
    "evidence",
    "pattern",
    "project",
    "experiment",
    "puzzle",
    "journal",
    "worksheet",
    "partner",
    "station",
    "example",
    "strategy",
    "skill",
    "concept",
    "method",
    "detail",
    "outline",
    "timeline",
    "poster",
    "chart",
    "map",
    "notebook",
    "rubric",
    "reflection",
    "feedback",
];

/// Rare words: one lesson in fifty holds one of them.
const RARE: [&str; 60] = [
    "mitochondria",
    "obsidian",
    "haiku",
    "limerick",
    "tessellation",
    "sundial",
    "abacus",
    "aqueduct",
    "astrolabe",
    "catapult",
    "chlorophyll",
    "hieroglyph",
    "isotope",
    "kaleidoscope",
    "labyrinth",
    "meteorite",
    "narwhal",
    "origami",
    "parabola",
    "quasar",
    "sextant",
    "stalactite",
    "telescope",
    "tsunami",
    "vortex",
    "zeppelin",
    "zircon",
    "axolotl",
    "bonsai",
    "carillon",
    "dodecahedron",
    "fjord",
    "geyser",
    "hologram",
    "igloo",
    "javelin",
    "kiln",
    "lighthouse",
    "monolith",
    "nebula",
    "oasis",
    "pendulum",
    "quill",
    "sarcophagus",
    "trebuchet",
    "ukulele",
    "viaduct",
    "windmill",
    "xylophone",
    "yurt",
    "ziggurat",
    "amphitheater",
    "barometer",
    "caravel",
    "dirigible",
    "equinox",
    "fulcrum",
    "glockenspiel",
    "harpsichord",
    "walrus",
];

/// Tags, most frequent first (one to three per lesson).
pub const TAGS: [&str; 16] = [
    "homework",
    "lab",
    "game",
    "video",
    "quiz",
    "groupwork",
    "outdoor",
    "reading",
    "writing",
    "debate",
    "assessment",
    "extension",
    "remedial",
    "warmup",
    "inquiry",
    "handson",
];

/// The difficulties, as the API spells them.
const DIFFICULTIES: [&str; 3] = ["introductory", "intermediate", "advanced"];

/// Sentence frames: `{t}` is a topic word of the lesson's subject, `{v}` a general verb, `{n}`
/// a general noun.
const SENTENCES: [&str; 8] = [
    "Students {v} how the {t} relates to the {t} through a guided {n}.",
    "In small teams the class will {v} each {t} and note what they {v} along the way.",
    "This lesson follows on from the {t} and the {t}, with a {n} to check understanding.",
    "Learners {v} one {t} together, then {v} their own with a {n}.",
    "A closing {n} asks everyone to connect the {t} with the {t} in a few lines.",
    "The teacher demonstrates the {t} before pupils {v} the {t} on their own.",
    "Working in pairs, children {v} a {t} and share their {n} with the room.",
    "Everyone keeps a {n} of every {t} they meet, then looks for a {n} in the set.",
];

/// The sentence that brings a rare word in.
const RARE_SENTENCE: &str = "Bonus: a quick look at the {r}.";

/// Objective frames (slots as in [`SENTENCES`]).
const OBJECTIVES: [&str; 3] = [
    "I can {v} the {t}.",
    "I can use the {t} in a {n}.",
    "I understand why the {t} matters.",
];

/// One lesson in fifty has a rare word.
const RARE_ONE_IN: u64 = 50;
/// Words of the vocabulary a query may use, in one numbering: topic words, general, rare.
const CANDIDATE_COUNT: usize = 8 * 30 + 50 + 60;

/// A tiny deterministic generator (SplitMix64): the same seed, the same lesson, on every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5EED_C1A5_5B0B_0001)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// In `0..n`, skewed to the front: index `floor(n * u^power)` for uniform `u`.
    fn skewed(&mut self, n: usize, power: f64) -> usize {
        let uniform = (self.next() >> 11) as f64 / (1_u64 << 53) as f64;
        ((n as f64 * uniform.powf(power)) as usize).min(n - 1)
    }
}

/// A course's descriptive fields: its subject and grade band, which its lessons share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CourseShape {
    /// Index into [`SUBJECTS`].
    pub subject: usize,
    /// Lowest grade (0 = kindergarten).
    pub grade_min: u8,
    /// Highest grade.
    pub grade_max: u8,
}

/// The shape of course `course`.
pub fn course_shape(course: u64) -> CourseShape {
    let mut rng = Rng::new(course.wrapping_mul(0x1_0000_0001) ^ 0xC0);
    let grade_min = rng.below(12) as u8;
    let grade_max = (grade_min + rng.below(4) as u8).min(12);
    CourseShape {
        subject: (course % SUBJECTS.len() as u64) as usize,
        grade_min,
        grade_max,
    }
}

/// The `POST /api/v1/courses` body of course `course`.
pub fn course_body(course: u64, run_label: &str) -> Value {
    let shape = course_shape(course);
    let topics = &TOPICS[shape.subject];
    let mut rng = Rng::new(course ^ 0xC0C0_0000);
    let first = topics[rng.skewed(topics.len(), 2.0)];
    json!({
        "title": format!("{} {run_label}: {} and {}", capitalize(SUBJECTS[shape.subject]), first,
                         topics[rng.skewed(topics.len(), 2.0)]),
        "subject": SUBJECTS[shape.subject],
        "grade_min": shape.grade_min,
        "grade_max": shape.grade_max,
        "difficulty": DIFFICULTIES[rng.below(3) as usize],
        "tags": [TAGS[rng.skewed(TAGS.len(), 2.0)]],
        "duration_minutes": 60 * (2 + rng.below(20)),
        "objectives": [format!("I can explain the {first}.")],
        "published": true,
    })
}

/// Lesson `lesson` of a corpus spread over `courses` courses: its course, its position there,
/// its `POST /api/v1/courses/{id}/lessons` body, and the facts a search matches on.
pub fn lesson(lesson: u64, courses: u64) -> (u64, u64, Value, LessonFacts) {
    let course = lesson % courses;
    let position = lesson / courses;
    let shape = course_shape(course);
    let topics = &TOPICS[shape.subject];
    let mut rng = Rng::new(lesson);
    let mut words: Vec<u16> = Vec::new();
    let topic = |rng: &mut Rng, words: &mut Vec<u16>| {
        let index = rng.skewed(topics.len(), 3.0);
        words.push((shape.subject * 30 + index) as u16);
        topics[index]
    };
    // A verb (`first` 0) or a noun (`first` 25) of GENERAL.
    let general = |first: usize, rng: &mut Rng, words: &mut Vec<u16>| {
        let index = first + rng.skewed(GENERAL.len() / 2, 1.5);
        words.push((240 + index) as u16);
        GENERAL[index]
    };
    let fill = |frame: &str, rng: &mut Rng, words: &mut Vec<u16>| {
        let mut text = String::with_capacity(frame.len() + 40);
        let mut rest = frame;
        while let Some(at) = rest.find('{') {
            text.push_str(&rest[..at]);
            let slot = &rest[at..at + 3];
            text.push_str(match slot {
                "{t}" => topic(rng, words),
                "{v}" => general(0, rng, words),
                _ => general(GENERAL.len() / 2, rng, words),
            });
            rest = &rest[at + 3..];
        }
        text.push_str(rest);
        text
    };
    let title = {
        let first = fill("{t}", &mut rng, &mut words);
        format!(
            "{}: {}",
            capitalize(&first),
            fill("{v} the {t}", &mut rng, &mut words)
        )
    };
    let sentences = 2 + rng.below(3) as usize;
    let mut body = Vec::with_capacity(sentences);
    for _ in 0..sentences {
        let frame = SENTENCES[rng.below(SENTENCES.len() as u64) as usize];
        body.push(fill(frame, &mut rng, &mut words));
    }
    if rng.below(RARE_ONE_IN) == 0 {
        let index = rng.below(RARE.len() as u64) as usize;
        words.push((290 + index) as u16);
        body.push(RARE_SENTENCE.replace("{r}", RARE[index]));
    }
    let summary = fill(
        SENTENCES[rng.below(SENTENCES.len() as u64) as usize],
        &mut rng,
        &mut words,
    );
    let objectives: Vec<String> = (0..1 + rng.below(2))
        .map(|_| {
            let frame = OBJECTIVES[rng.below(OBJECTIVES.len() as u64) as usize];
            fill(frame, &mut rng, &mut words)
        })
        .collect();
    let mut tags = 0_u16;
    for _ in 0..1 + rng.below(3) {
        tags |= 1 << rng.skewed(TAGS.len(), 2.0);
    }
    let difficulty = DIFFICULTIES[rng.below(3) as usize];
    words.sort_unstable();
    words.dedup();
    let tag_names: Vec<&str> = (0..TAGS.len())
        .filter(|tag| tags & (1 << tag) != 0)
        .map(|tag| TAGS[tag])
        .collect();
    let body_json = json!({
        "title": title,
        "subject": SUBJECTS[shape.subject],
        "grade_min": shape.grade_min,
        "grade_max": shape.grade_max,
        "difficulty": difficulty,
        "tags": tag_names,
        "duration_minutes": 10 + 5 * rng.below(17),
        "objectives": objectives,
        "position": position,
        "published": true,
        "content": {"summary": summary, "body": body},
    });
    let facts = LessonFacts {
        subject: shape.subject as u8,
        grade_min: shape.grade_min,
        grade_max: shape.grade_max,
        tags,
        words,
    };
    (course, position, body_json, facts)
}

/// What a search matches in one lesson.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LessonFacts {
    /// Index into [`SUBJECTS`].
    pub subject: u8,
    /// Lowest grade.
    pub grade_min: u8,
    /// Highest grade.
    pub grade_max: u8,
    /// Bit `n`: holds `TAGS[n]`.
    pub tags: u16,
    /// The vocabulary words in its text, by candidate number, sorted, once each.
    pub words: Vec<u16>,
}

impl LessonFacts {
    fn has(&self, word: u16) -> bool {
        self.words.binary_search(&word).is_ok()
    }
}

/// Every lesson's facts for `lessons` lessons over `courses` courses.
#[derive(Debug)]
pub struct Corpus {
    lessons: Vec<LessonFacts>,
}

/// The words and filters the scenario's queries use, and how many lessons match each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The word in most lessons.
    pub common: &'static str,
    /// Lessons holding it.
    pub common_matches: u64,
    /// The word in fewest lessons (at least one).
    pub rare: &'static str,
    /// Lessons holding it.
    pub rare_matches: u64,
    /// The word searched with `common` (the two together in about one lesson in twenty).
    pub paired: &'static str,
    /// Lessons holding both.
    pub paired_matches: u64,
    /// The second most common word, searched within `subject`.
    pub second: &'static str,
    /// The subject holding most lessons with `second`.
    pub subject: &'static str,
    /// Lessons of `subject` holding `second`.
    pub second_in_subject_matches: u64,
    /// The grade of the filters-only query.
    pub grade: u8,
    /// Its tag.
    pub tag: &'static str,
    /// Lessons for `grade` with `tag`.
    pub grade_tag_matches: u64,
}

impl Corpus {
    /// The facts of lessons `0..lessons` spread over `courses` courses.
    pub fn new(courses: u64, lessons: u64) -> Corpus {
        Corpus {
            lessons: (0..lessons).map(|index| lesson(index, courses).3).collect(),
        }
    }

    /// The queries' words and filters, chosen from this corpus, with their match counts.
    pub fn plan(&self) -> Plan {
        let mut frequency = vec![0_u64; CANDIDATE_COUNT];
        for facts in &self.lessons {
            for word in &facts.words {
                frequency[usize::from(*word)] += 1;
            }
        }
        // Ties go to the earlier word, so the plan is the same on every run.
        let most = |skip: Option<usize>| {
            (0..CANDIDATE_COUNT)
                .filter(|word| Some(*word) != skip)
                .max_by_key(|word| (frequency[*word], std::cmp::Reverse(*word)))
                .unwrap_or(0)
        };
        let common = most(None);
        let second = most(Some(common));
        let rare = (0..CANDIDATE_COUNT)
            .filter(|word| frequency[*word] > 0)
            .min_by_key(|word| (frequency[*word], *word))
            .unwrap_or(common);
        let count = |keep: &dyn Fn(&LessonFacts) -> bool| {
            self.lessons.iter().filter(|facts| keep(facts)).count() as u64
        };
        let (common_id, second_id) = (common as u16, second as u16);
        // The word found with the common one in closest to a twentieth of the lessons.
        let mut with_common = vec![0_u64; CANDIDATE_COUNT];
        for facts in self.lessons.iter().filter(|facts| facts.has(common_id)) {
            for word in &facts.words {
                with_common[usize::from(*word)] += 1;
            }
        }
        let twentieth = self.lessons.len() as u64 / 20;
        let paired = (0..CANDIDATE_COUNT)
            .filter(|word| *word != common && with_common[*word] > 0)
            .min_by_key(|word| (with_common[*word].abs_diff(twentieth), *word))
            .unwrap_or(second);
        let subject = (0..SUBJECTS.len())
            .max_by_key(|subject| {
                (
                    count(&|facts: &LessonFacts| {
                        usize::from(facts.subject) == *subject && facts.has(second_id)
                    }),
                    std::cmp::Reverse(*subject),
                )
            })
            .unwrap_or(0);
        let tag = 0;
        let grade = (0..=12_u8)
            .max_by_key(|grade| {
                (
                    count(&|facts: &LessonFacts| {
                        facts.grade_min <= *grade
                            && *grade <= facts.grade_max
                            && facts.tags & 1 != 0
                    }),
                    std::cmp::Reverse(*grade),
                )
            })
            .unwrap_or(0);
        Plan {
            common: word(common),
            common_matches: frequency[common],
            rare: word(rare),
            rare_matches: frequency[rare],
            paired: word(paired),
            paired_matches: with_common[paired],
            second: word(second),
            subject: SUBJECTS[subject],
            second_in_subject_matches: count(&|facts: &LessonFacts| {
                usize::from(facts.subject) == subject && facts.has(second_id)
            }),
            grade,
            tag: TAGS[tag],
            grade_tag_matches: count(&|facts: &LessonFacts| {
                facts.grade_min <= grade && grade <= facts.grade_max && facts.tags & (1 << tag) != 0
            }),
        }
    }
}

/// Candidate word number `index` (topic words, then general, then rare).
fn word(index: usize) -> &'static str {
    match index {
        0..240 => TOPICS[index / 30][index % 30],
        240..290 => GENERAL[index - 240],
        _ => RARE[index - 290],
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The words of a text as both full-text indexes split it (letters and digits; anything else
    /// separates), lower-cased.
    fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|token| !token.is_empty())
            .map(str::to_lowercase)
    }

    /// How many times each candidate word is in the vocabulary lists (a check that numbering and
    /// lists agree; every count must be one).
    fn candidate_numbers() -> HashMap<&'static str, usize> {
        let mut numbers = HashMap::new();
        for index in 0..CANDIDATE_COUNT {
            *numbers.entry(word(index)).or_insert(0) += 1;
        }
        numbers
    }

    /// Every word a lesson can hold, frames and tags included.
    fn every_word() -> Vec<String> {
        let mut words: Vec<String> = (0..CANDIDATE_COUNT).map(|n| word(n).to_owned()).collect();
        let frames = SENTENCES
            .iter()
            .chain(OBJECTIVES.iter())
            .chain([RARE_SENTENCE].iter())
            .map(|frame| {
                frame
                    .replace("{t}", " ")
                    .replace("{v}", " ")
                    .replace("{n}", " ")
                    .replace("{r}", " ")
            });
        for frame in frames {
            words.extend(tokens(&frame));
        }
        words.extend(
            SUBJECTS
                .iter()
                .chain(TAGS.iter())
                .map(|word| (*word).to_owned()),
        );
        words.sort();
        words.dedup();
        words
    }

    #[test]
    fn every_query_word_has_a_stem_of_its_own() {
        // A rough stand-in for the stemmers: a word without its trailing e, s or y must not
        // begin another word ("measure" and "measurement" would share a stem).
        let words = every_word();
        let mut clashes = Vec::new();
        for (index, word) in (0..CANDIDATE_COUNT).map(|n| (n, word(n))) {
            let stem = word.trim_end_matches(['e', 's', 'y']);
            if stem.len() < 4 {
                continue;
            }
            for other in &words {
                if other != word && other.starts_with(stem) {
                    clashes.push(format!("{word} (#{index}) / {other}"));
                }
            }
        }
        assert!(
            clashes.is_empty(),
            "words that may share a stem: {clashes:?}"
        );
        assert!(
            candidate_numbers().values().all(|count| *count == 1),
            "a candidate word is listed twice"
        );
    }

    #[test]
    fn a_lesson_is_the_same_on_every_run_and_its_facts_match_its_text() {
        for index in [0, 1, 7, 999, 54_321] {
            let (course, position, body, facts) = lesson(index, 100);
            assert_eq!(lesson(index, 100).2, body);
            assert_eq!((course, position), (index % 100, index / 100));
            let mut text = vec![
                body["title"].as_str().unwrap_or_default().to_owned(),
                body["content"]["summary"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ];
            for part in ["objectives", "tags"] {
                text.extend(
                    body[part]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| v.to_string()),
                );
            }
            text.extend(
                body["content"]["body"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| v.to_string()),
            );
            let found: Vec<String> = text.iter().flat_map(|part| tokens(part)).collect();
            for word in &facts.words {
                assert!(
                    found.contains(&word_of(*word)),
                    "{} in {body}",
                    word_of(*word)
                );
            }
            for index in 0..CANDIDATE_COUNT as u16 {
                if !facts.words.contains(&index) {
                    assert!(
                        !found.contains(&word_of(index)),
                        "{} not in facts",
                        word_of(index)
                    );
                }
            }
            let bytes = body.to_string().len();
            assert!((250..=900).contains(&bytes), "{bytes} bytes: {body}");
        }
    }

    fn word_of(index: u16) -> String {
        word(usize::from(index)).to_owned()
    }

    #[test]
    fn the_plan_has_common_and_rare_words() {
        let plan = Corpus::new(100, 20_000).plan();
        assert!(plan.common_matches > 4_000, "{plan:?}");
        assert!(plan.rare_matches > 0 && plan.rare_matches < 20, "{plan:?}");
        assert!(
            plan.paired_matches > 0 && plan.paired_matches < plan.common_matches,
            "{plan:?}"
        );
        assert!(plan.second_in_subject_matches > 20, "{plan:?}");
        assert!(plan.grade_tag_matches > 20, "{plan:?}");
        assert_eq!(Corpus::new(100, 20_000).plan(), plan);
    }
}
