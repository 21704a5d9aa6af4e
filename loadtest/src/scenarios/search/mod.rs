//! `search`: content search over many lessons on the REST API. Setup, as one educator: `--courses`
//! courses and `--lessons` lessons spread over them (lesson `n` in course `n % courses`),
//! created with `POST /api/v1/courses` and `POST /api/v1/courses/{id}/lessons`, `--seed-concurrency`
//! at once; their text comes from [`corpus`], deterministic, so the run knows how many lessons
//! hold each word. Then it counts the tenant's lessons (every course's lessons, page by page),
//! and, when that count is what it seeded, checks the searches' answers against the corpus: the
//! rare word's every page, and each measured answer's size.
//!
//! Measured: `--clients` educators, each in a loop without pause, send a fixed rotating mix of
//! `GET /api/v1/lessons` searches ([`QueryKind`]: a common word, a rare word, two words, a word
//! within a subject, filters only sorted by title, and the second page of the common word), 20
//! rows a page. Reports queries/s, latency from request to the whole answer over all kinds (the
//! report's percentiles) and per kind, errors by HTTP status, and the seeding rate.
//!
//! `--no-seed` creates nothing and searches the tenant's lessons as an earlier run left them
//! (its `--courses` and `--lessons` make the corpus the answers are checked against). Every
//! request waits at most `--request-timeout` (30 s by default); a setup request is retried only
//! after 429 or 503, and the first other failure ends the run. Entry point: [`run`].

pub mod corpus;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail, ensure};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::corpus::{Corpus, Plan};
use super::{Common, MAX_CONCURRENCY, check_count, per_sec, round_ms, run_id, secs, wait_window};
use crate::client::WireProtocol;
use crate::credentials::Role;
use crate::progress::Progress;
use crate::report::{Report, Results, SearchKindResults, SearchResults};
use crate::stats::{Errors, LatencyRecorder, SharedLatencies, Window, unix_millis};

/// Most courses a run creates.
pub const MAX_COURSES: u64 = 10_000;
/// Most lessons a run creates.
pub const MAX_LESSONS: u64 = 1_000_000;
/// Most lessons per course (the server's positions run from 0 to 100 000).
pub const MAX_LESSONS_PER_COURSE: u64 = 100_001;
/// Most searching clients.
pub const MAX_CLIENTS: u64 = 1_024;
/// Rows per page of every measured search.
pub const PAGE_LIMIT: u64 = 20;
/// The longest `--request-timeout`.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Sends of one setup request answered 429 or 503 (the first and its retries).
const MAX_ATTEMPTS: u32 = 8;
/// Longest wait before a retry, whatever `Retry-After` says.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);
/// Rows per page when counting.
const COUNT_PAGE: u64 = 200;
/// Most pages read for one count (200 × 10 000 rows).
const MAX_COUNT_PAGES: u64 = 10_000;

/// What `search` is asked to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// Target, credentials (educator tokens), warm-up, duration.
    pub common: Common,
    /// Courses to create (and, with `seed` off, that an earlier run created).
    pub courses: u64,
    /// Lessons to create, spread over the courses.
    pub lessons: u64,
    /// Create the courses and lessons (off: search what an earlier run created).
    pub seed: bool,
    /// Creations in flight at once.
    pub seed_concurrency: usize,
    /// Clients searching at once.
    pub clients: u64,
    /// Longest wait for one HTTP answer (setup and searches); a search answered later counts
    /// as an error.
    pub request_timeout: Duration,
}

impl Config {
    /// 2 courses, 100 lessons, 8 creations at once, 2 clients, 30 s per request at most.
    pub fn new(common: Common) -> Config {
        Config {
            common,
            courses: 2,
            lessons: 100,
            seed: true,
            seed_concurrency: 8,
            clients: 2,
            request_timeout: Duration::from_secs(30),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.common.validate()?;
        check_count("courses", self.courses, MAX_COURSES)?;
        check_count("lessons", self.lessons, MAX_LESSONS)?;
        check_count("clients", self.clients, MAX_CLIENTS)?;
        check_count(
            "seed-concurrency",
            self.seed_concurrency as u64,
            MAX_CONCURRENCY as u64,
        )?;
        ensure!(
            !self.request_timeout.is_zero() && self.request_timeout <= MAX_REQUEST_TIMEOUT,
            "--request-timeout must be more than 0 and at most {} s",
            MAX_REQUEST_TIMEOUT.as_secs()
        );
        ensure!(
            self.lessons.div_ceil(self.courses) <= MAX_LESSONS_PER_COURSE,
            "--lessons / --courses must be at most {MAX_LESSONS_PER_COURSE} lessons per course \
             (the server's positions end at 100 000): give more --courses"
        );
        Ok(())
    }
}

/// The searches of the measured mix, sent in this order (each client starts at another one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// `q=` the word in most lessons, by relevance.
    CommonWord,
    /// `q=` the word in fewest lessons.
    RareWord,
    /// `q=` the common word and one in about a twentieth of the lessons (both required).
    TwoWords,
    /// `q=` the second most common word, `subject=` the subject holding most of it.
    WordInSubject,
    /// `grade=` and `tag=`, no words, `sort=title`.
    FiltersByTitle,
    /// The common word's second page (`cursor=` its first page's `next_cursor`).
    NextPage,
}

impl QueryKind {
    /// Every kind, in the mix's order.
    pub const ALL: [QueryKind; 6] = [
        QueryKind::CommonWord,
        QueryKind::RareWord,
        QueryKind::TwoWords,
        QueryKind::WordInSubject,
        QueryKind::FiltersByTitle,
        QueryKind::NextPage,
    ];

    /// The kind's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryKind::CommonWord => "common_word",
            QueryKind::RareWord => "rare_word",
            QueryKind::TwoWords => "two_words",
            QueryKind::WordInSubject => "word_in_subject",
            QueryKind::FiltersByTitle => "filters_by_title",
            QueryKind::NextPage => "next_page",
        }
    }
}

/// One search of the mix, ready to send.
#[derive(Debug, Clone)]
struct PlannedQuery {
    kind: QueryKind,
    /// The query string (without the cursor), for the report.
    shown: String,
    url: String,
    /// Lessons that match, from the corpus (`None`: the database is not the corpus).
    matches: Option<u64>,
    /// Rows each answer must hold (`None`: not checked).
    rows: Option<u64>,
}

/// What every client shares.
struct Shared {
    window: Window,
    http: reqwest::Client,
    queries: Vec<PlannedQuery>,
    /// Answers received so far (the progress bar's count).
    answered: AtomicU64,
}

/// One kind's counts in one client.
#[derive(Debug, Default, Clone, Copy)]
struct KindCount {
    queries: u64,
    errors: u64,
    wrong: u64,
    rows: u64,
}

/// One client's figures over the measured window.
#[derive(Debug, Default)]
struct ClientOutcome {
    kinds: Vec<KindCount>,
    errors: Errors,
}

/// Runs the scenario and returns its report.
pub async fn run(config: Config) -> anyhow::Result<Report> {
    config.validate()?;
    let common = &config.common;
    let started_at_unix_ms = unix_millis();
    let run_id = run_id();
    let progress = Progress::new(common.show_progress);
    let mut errors = Errors::default();
    let setup_start = Instant::now();
    let http = reqwest::Client::builder()
        .timeout(config.request_timeout)
        .pool_max_idle_per_host(config.seed_concurrency.max(config.clients as usize))
        .build()
        .context("building the HTTP client")?;
    let base = common.target.http_base();
    let author = common
        .credentials
        .token_for(Role::Educator, &format!("{run_id}-author"))?;

    let mut seed_secs = 0.0;
    if config.seed {
        let seeding = Instant::now();
        progress.phase("courses", config.courses);
        let course_ids = create_courses(&http, &base, &author, &config, &run_id, &progress).await?;
        progress.phase("lessons", config.lessons);
        create_lessons(&http, &base, &author, &config, &course_ids, &progress).await?;
        seed_secs = round_ms(seeding.elapsed().as_secs_f64());
    }

    progress.phase("counting", 1);
    let lessons_in_database = count_lessons(&http, &base, &author, config.seed_concurrency).await?;
    progress.inc();
    ensure!(
        lessons_in_database > 0,
        "the tenant has no lessons to search: run once without --no-seed"
    );
    let checked = lessons_in_database == config.lessons;
    let plan = Corpus::new(config.courses, config.lessons).plan();
    let mut queries = plan_queries(&base, &plan, checked);
    let cursor = first_cursor(&http, &queries, &author).await?;
    let mut notes = Vec::new();
    match cursor {
        Some(cursor) => {
            if let Some(next) = queries
                .iter_mut()
                .find(|query| query.kind == QueryKind::NextPage)
            {
                next.url.push_str(&format!("&cursor={cursor}"));
            }
        }
        None => {
            queries.retain(|query| query.kind != QueryKind::NextPage);
            notes.push(format!(
                "the common word's search fits on one page of {PAGE_LIMIT}: no next_page queries \
                 (seed more --lessons)"
            ));
        }
    }
    let rare_found = if checked {
        let rare = queries
            .iter()
            .find(|query| query.kind == QueryKind::RareWord)
            .context("the mix has a rare-word search")?;
        let found = count_pages(&http, &rare.url, &author, "reading the rare word's pages").await?;
        if Some(found) != rare.matches {
            errors.add("wrong_results", || {
                format!(
                    "{} found {found} lessons over all pages; the corpus has {:?}",
                    rare.shown, rare.matches
                )
            });
        }
        Some(found)
    } else {
        notes.push(format!(
            "the tenant holds {lessons_in_database} lessons, not the {} of the corpus: answers \
             are not checked (give the --courses and --lessons that seeded it)",
            config.lessons
        ));
        None
    };
    let setup = setup_start.elapsed();

    let window = Window::after_warmup(common.warmup, common.duration);
    let shared = Arc::new(Shared {
        window,
        http,
        queries,
        answered: AtomicU64::new(0),
    });
    let overall = SharedLatencies::new()?;
    let per_kind = (0..shared.queries.len())
        .map(|_| SharedLatencies::new())
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut clients: Vec<JoinHandle<ClientOutcome>> = Vec::new();
    for client in 0..config.clients {
        let token = common
            .credentials
            .token_for(Role::Educator, &format!("{run_id}-reader{client}"))?;
        clients.push(tokio::spawn(client_loop(
            client as usize,
            token,
            overall.recorder(),
            per_kind.iter().map(SharedLatencies::recorder).collect(),
            Arc::clone(&shared),
        )));
    }
    let status = || format!("answers {}", shared.answered.load(Ordering::Relaxed));
    wait_window(&window, &progress, status, || {}).await;

    let mut counts = vec![KindCount::default(); shared.queries.len()];
    for client in clients {
        let outcome = client.await.context("a search client failed")?;
        for (total, count) in counts.iter_mut().zip(outcome.kinds) {
            total.queries += count.queries;
            total.errors += count.errors;
            total.wrong += count.wrong;
            total.rows += count.rows;
        }
        errors.merge(outcome.errors);
    }
    let duration = window.duration();
    let kinds: Vec<SearchKindResults> = shared
        .queries
        .iter()
        .zip(&counts)
        .zip(&per_kind)
        .map(|((query, count), latencies)| SearchKindResults {
            kind: query.kind.as_str().to_owned(),
            query: query.shown.clone(),
            matches: query.matches,
            found_over_all_pages: (query.kind == QueryKind::RareWord)
                .then_some(rare_found)
                .flatten(),
            rows_per_answer: query.rows,
            queries: count.queries,
            errors: count.errors,
            wrong_answers: count.wrong,
            rows_returned: count.rows,
            latency_us: latencies.snapshot().percentiles(),
        })
        .collect();
    let total_queries: u64 = counts.iter().map(|count| count.queries).sum();
    notes.push(
        "every client sends its next search as soon as the last is answered (a closed loop): \
         queries/s is what the server sustains with that many in flight"
            .to_owned(),
    );
    Ok(Report {
        scenario: "search".into(),
        target: common.target.display().to_owned(),
        protocol: WireProtocol::Json.as_str().into(),
        started_at_unix_ms,
        setup_secs: secs(setup),
        warmup_secs: secs(common.warmup),
        duration_secs: secs(duration),
        connections: config.clients,
        latency_of: "GET /api/v1/lessons search, request sent to the whole answer read".into(),
        latency_us: overall.snapshot().percentiles(),
        results: Results::Search(SearchResults {
            courses: config.courses,
            seeded: config.seed,
            lessons_seeded: if config.seed { config.lessons } else { 0 },
            seed_concurrency: config.seed_concurrency as u64,
            seed_secs,
            seed_lessons_per_sec: if seed_secs > 0.0 {
                (config.lessons as f64 / seed_secs).round()
            } else {
                0.0
            },
            lessons_in_database,
            answers_checked: checked,
            clients: config.clients,
            request_timeout_secs: secs(config.request_timeout),
            page_limit: PAGE_LIMIT,
            queries: total_queries,
            queries_per_sec: per_sec(total_queries, duration),
            kinds,
        }),
        errors,
        notes,
    })
}

/// The measured mix for `plan`; with `checked`, each search's expected matches and rows.
fn plan_queries(base: &str, plan: &Plan, checked: bool) -> Vec<PlannedQuery> {
    let rows = |matches: u64| matches.min(PAGE_LIMIT);
    QueryKind::ALL
        .iter()
        .map(|kind| {
            let (shown, matches, page_rows) = match kind {
                QueryKind::CommonWord => (
                    format!("q={}", plan.common),
                    plan.common_matches,
                    rows(plan.common_matches),
                ),
                QueryKind::RareWord => (
                    format!("q={}", plan.rare),
                    plan.rare_matches,
                    rows(plan.rare_matches),
                ),
                QueryKind::TwoWords => (
                    format!("q={}+{}", plan.common, plan.paired),
                    plan.paired_matches,
                    rows(plan.paired_matches),
                ),
                QueryKind::WordInSubject => (
                    format!("q={}&subject={}", plan.second, plan.subject),
                    plan.second_in_subject_matches,
                    rows(plan.second_in_subject_matches),
                ),
                QueryKind::FiltersByTitle => (
                    format!("grade={}&tag={}&sort=title", plan.grade, plan.tag),
                    plan.grade_tag_matches,
                    rows(plan.grade_tag_matches),
                ),
                QueryKind::NextPage => (
                    format!("q={}&cursor=(page 2)", plan.common),
                    plan.common_matches,
                    rows(plan.common_matches.saturating_sub(PAGE_LIMIT)),
                ),
            };
            let query = shown.trim_end_matches("&cursor=(page 2)");
            PlannedQuery {
                kind: *kind,
                url: format!("{base}/api/v1/lessons?{query}&limit={PAGE_LIMIT}"),
                shown,
                matches: checked.then_some(matches),
                rows: checked.then_some(page_rows),
            }
        })
        .collect()
}

/// A client: searches the mix in turn, from its own starting point, until the window ends.
async fn client_loop(
    client: usize,
    token: String,
    mut overall: LatencyRecorder,
    mut per_kind: Vec<LatencyRecorder>,
    shared: Arc<Shared>,
) -> ClientOutcome {
    let mut outcome = ClientOutcome {
        kinds: vec![KindCount::default(); shared.queries.len()],
        errors: Errors::default(),
    };
    let mut turn = client;
    while Instant::now() < shared.window.end {
        let index = turn % shared.queries.len();
        turn += 1;
        let query = &shared.queries[index];
        let sent = Instant::now();
        let measured = shared.window.contains(sent);
        let answer = shared.http.get(&query.url).bearer_auth(&token).send().await;
        let answer = match answer {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|body| (status, body))
            }
            Err(error) => Err(error),
        };
        let latency = sent.elapsed();
        shared.answered.fetch_add(1, Ordering::Relaxed);
        if !measured {
            continue;
        }
        let count = &mut outcome.kinds[index];
        count.queries += 1;
        let (status, body) = match answer {
            Ok(answer) => answer,
            Err(error) => {
                count.errors += 1;
                outcome
                    .errors
                    .add("http", || format!("{}: {error}", query.shown));
                continue;
            }
        };
        if !status.is_success() {
            count.errors += 1;
            outcome
                .errors
                .add(&format!("http_{}", status.as_u16()), || {
                    format!(
                        "{} answered {status}: {}",
                        query.shown,
                        String::from_utf8_lossy(&body)
                    )
                });
            continue;
        }
        overall.record(latency);
        per_kind[index].record(latency);
        let rows = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|page| page["items"].as_array().map(|items| items.len() as u64));
        count.rows += rows.unwrap_or(0);
        if query.rows.is_some() && rows != query.rows {
            count.wrong += 1;
            outcome.errors.add("wrong_results", || {
                format!(
                    "{} answered {rows:?} rows; the corpus says {:?}",
                    query.shown, query.rows
                )
            });
        }
    }
    overall.flush();
    for recorder in &mut per_kind {
        recorder.flush();
    }
    outcome
}

/// Creates the courses, `seed_concurrency` at once; their ids by course number.
async fn create_courses(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    config: &Config,
    run_id: &str,
    progress: &Progress,
) -> anyhow::Result<Vec<String>> {
    let url = format!("{base}/api/v1/courses");
    futures_util::stream::iter(0..config.courses)
        .map(|course| {
            let body = corpus::course_body(course, run_id);
            let url = &url;
            async move {
                let made = call(
                    http,
                    Method::POST,
                    url,
                    token,
                    Some(&body),
                    "creating a course",
                )
                .await?;
                progress.inc();
                made["id"]
                    .as_str()
                    .map(str::to_owned)
                    .context("a created course has no id")
            }
        })
        .buffered(config.seed_concurrency)
        .try_collect()
        .await
}

/// Creates the lessons, `seed_concurrency` at once; stops at the first failure.
async fn create_lessons(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    config: &Config,
    course_ids: &[String],
    progress: &Progress,
) -> anyhow::Result<()> {
    futures_util::stream::iter(0..config.lessons)
        .map(|lesson| async move {
            let (course, _, body, _) = corpus::lesson(lesson, config.courses);
            let url = format!(
                "{base}/api/v1/courses/{}/lessons",
                course_ids[course as usize]
            );
            call(
                http,
                Method::POST,
                &url,
                token,
                Some(&body),
                "creating a lesson",
            )
            .await?;
            progress.inc();
            Ok::<(), anyhow::Error>(())
        })
        .buffer_unordered(config.seed_concurrency)
        .try_for_each(|()| std::future::ready(Ok(())))
        .await
}

/// The tenant's lessons: every course's, counted page by page, `concurrency` courses at once.
async fn count_lessons(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    concurrency: usize,
) -> anyhow::Result<u64> {
    let mut course_ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_COUNT_PAGES {
        let mut url = format!("{base}/api/v1/courses?limit={COUNT_PAGE}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = call(http, Method::GET, &url, token, None, "listing the courses").await?;
        course_ids.extend(
            page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|course| course["id"].as_str().map(str::to_owned)),
        );
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    ensure!(
        cursor.is_none(),
        "the tenant has more than {} courses; the count stopped",
        MAX_COUNT_PAGES * COUNT_PAGE
    );
    futures_util::stream::iter(course_ids)
        .map(|id| async move {
            let url = format!("{base}/api/v1/courses/{id}/lessons?limit={COUNT_PAGE}");
            count_pages(http, &url, token, "counting a course's lessons").await
        })
        .buffer_unordered(concurrency)
        .try_fold(0, |total, count| std::future::ready(Ok(total + count)))
        .await
}

/// The rows of every page of the list at `url` (which holds a `?`), following `next_cursor`.
async fn count_pages(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    step: &str,
) -> anyhow::Result<u64> {
    let mut rows = 0;
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_COUNT_PAGES {
        let page_url = match &cursor {
            Some(cursor) => format!("{url}&cursor={cursor}"),
            None => url.to_owned(),
        };
        let page = call(http, Method::GET, &page_url, token, None, step).await?;
        rows += page["items"].as_array().map_or(0, Vec::len) as u64;
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            return Ok(rows);
        }
    }
    bail!("{step}: more than {MAX_COUNT_PAGES} pages at {url}; the count stopped")
}

/// The `next_cursor` of the common word's first page (`None`: it has one page).
async fn first_cursor(
    http: &reqwest::Client,
    queries: &[PlannedQuery],
    token: &str,
) -> anyhow::Result<Option<String>> {
    let next = queries
        .iter()
        .find(|query| query.kind == QueryKind::NextPage)
        .ok_or_else(|| anyhow!("the mix has a next-page search"))?;
    let page = call(
        http,
        Method::GET,
        &next.url,
        token,
        None,
        "reading the common word's first page",
    )
    .await?;
    Ok(page["next_cursor"].as_str().map(str::to_owned))
}

/// A setup request as `token`: its JSON answer, retried after 429 and 503 (waiting
/// `Retry-After`, at most [`MAX_RETRY_WAIT`]) up to [`MAX_ATTEMPTS`] sends; any other failure is
/// an error naming `step` and the answer.
async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
    step: &str,
) -> anyhow::Result<Value> {
    for _ in 0..MAX_ATTEMPTS {
        let mut request = http.request(method.clone(), url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| step.to_owned())?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            let wait = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<f64>().ok())
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                .unwrap_or(Duration::from_secs(1))
                .min(MAX_RETRY_WAIT);
            tokio::time::sleep(wait).await;
            continue;
        }
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "{step} answered {status}: {answer}");
        return Ok(answer);
    }
    bail!(
        "{step}: still refused (429 or 503) after {MAX_ATTEMPTS} tries; start the server with \
         higher REST limits (--api-rate-per-token, --api-burst-per-token, --api-rate-per-ip, \
         --api-burst-per-ip)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Target};

    fn config() -> Config {
        Config::new(Common::new(
            Target::from_addr(([127, 0, 0, 1], 1).into()),
            Credentials::mint("secret", "t"),
        ))
    }

    #[test]
    fn counts_are_checked_against_the_bounds() {
        let check = |change: &dyn Fn(&mut Config), flag: &str| {
            let mut config = config();
            change(&mut config);
            let error = config.validate().expect_err(flag).to_string();
            assert!(error.contains(flag), "{flag}: {error}");
        };
        check(&|config| config.courses = 0, "--courses");
        check(&|config| config.courses = MAX_COURSES + 1, "--courses");
        check(&|config| config.lessons = MAX_LESSONS + 1, "--lessons");
        check(&|config| config.clients = 0, "--clients");
        check(&|config| config.seed_concurrency = 0, "--seed-concurrency");
        check(
            &|config| config.request_timeout = MAX_REQUEST_TIMEOUT * 2,
            "--request-timeout",
        );
        check(
            &|config| {
                config.courses = 1;
                config.lessons = MAX_LESSONS_PER_COURSE + 1;
            },
            "--courses",
        );
        assert!(config().validate().is_ok());
    }

    #[test]
    fn the_mix_has_every_kind_and_checks_answers_only_on_the_corpus() {
        let plan = Corpus::new(10, 2_000).plan();
        let checked = plan_queries("http://h", &plan, true);
        let kinds: Vec<QueryKind> = checked.iter().map(|query| query.kind).collect();
        assert_eq!(kinds, QueryKind::ALL);
        let rare = &checked[1];
        assert_eq!(rare.matches, Some(plan.rare_matches));
        assert_eq!(
            rare.url,
            format!("http://h/api/v1/lessons?q={}&limit=20", plan.rare)
        );
        assert!(
            checked[5]
                .url
                .ends_with(&format!("q={}&limit=20", plan.common))
        );
        let unchecked = plan_queries("http://h", &plan, false);
        assert!(unchecked.iter().all(|query| query.rows.is_none()));
    }
}
