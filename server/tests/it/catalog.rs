//! Finding content over REST on both backends: the descriptive fields courses and lessons carry
//! (checked, stored, returned), full-text search with stemming and relevance, filters by subject,
//! grade, difficulty and tag, sorts paged by cursor without gaps or repeats, students finding
//! only published content, lesson revisions (kept on every change, listed, read, restored, the
//! oldest dropped past `--lesson-revisions`), and a class's grade level.

use persistence::test_support::TestDatabase;
use serde_json::{Value, json};

use crate::classes::School;
use crate::rest::Rest;
use crate::support::{TestServer, start_with};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["title"].as_str().expect("title").to_owned())
        .collect()
}

#[tokio::test]
async fn search_filters_and_revisions() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        let test = start_with(move |config| {
            config.database_url = url;
            config.content.lesson_revisions = 3;
        })
        .await;
        search_filters_and_revisions_on(&test).await;
        test.server.shutdown().await;
    }
}

async fn search_filters_and_revisions_on(test: &TestServer) {
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "cat").await;
    let teacher = &school.teacher;

    // Descriptive fields are stored as given (tags lower-cased, duplicates dropped).
    let course = rest
        .post(
            "/api/v1/courses",
            teacher,
            json!({"title": "Fractions in the kitchen", "subject": "Math", "grade_min": 3,
                   "grade_max": 5, "difficulty": "introductory", "tags": ["Food", "food", "halves"],
                   "duration_minutes": 90, "objectives": ["Add halves and quarters"],
                   "published": true}),
        )
        .await;
    let course = course.expect(201).clone();
    assert_eq!(course["subject"], "Math");
    assert_eq!(course["grade_min"], 3);
    assert_eq!(course["grade_max"], 5);
    assert_eq!(course["tags"], json!(["food", "halves"]));
    assert_eq!(course["objectives"], json!(["Add halves and quarters"]));
    let course_id = course["id"].as_str().expect("id").to_owned();
    let science = rest
        .post(
            "/api/v1/courses",
            teacher,
            json!({"title": "Volcanoes", "subject": "science", "grade_min": 6, "grade_max": 8,
                   "difficulty": "advanced", "tags": ["earth"], "published": true}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    rest.post(
        "/api/v1/courses",
        teacher,
        json!({"title": "Secret fractions draft", "subject": "math"}),
    )
    .await
    .expect(201);

    // Bad descriptive fields: 422 naming the field and the rule.
    for (body, field) in [
        (json!({"title": "x", "grade_min": 13}), "grade_min"),
        (
            json!({"title": "x", "grade_min": 6, "grade_max": 2}),
            "grade_min",
        ),
        (json!({"title": "x", "difficulty": "hard"}), "difficulty"),
        (json!({"title": "x", "tags": ["two words"]}), "tags"),
        (json!({"title": "x", "tags": vec!["t"; 21]}), "tags"),
        (
            json!({"title": "x", "duration_minutes": 0}),
            "duration_minutes",
        ),
        (json!({"title": "x", "objectives": [" "]}), "objectives"),
    ] {
        let refused = rest.post("/api/v1/courses", teacher, body.clone()).await;
        assert_eq!(refused.status, 422, "{body}: {}", refused.body);
        assert!(
            refused.body.to_string().contains(field),
            "{body}: {}",
            refused.body
        );
    }
    // A change that would leave the band upside down is refused too.
    rest.patch(
        &format!("/api/v1/courses/{course_id}"),
        teacher,
        json!({"grade_min": 7}),
    )
    .await
    .expect_error(422, "grade_max");

    // Search: stemming ("fraction" finds "Fractions"), every word required, staff see drafts,
    // students only published courses.
    let staff = rest.get("/api/v1/courses?q=fraction", teacher).await;
    assert_eq!(ids(staff.expect(200)).len(), 2, "{}", staff.body);
    let student = rest
        .get("/api/v1/courses?q=fraction", &school.student)
        .await;
    assert_eq!(ids(student.expect(200)), vec!["Fractions in the kitchen"]);
    let both_words = rest
        .get("/api/v1/courses?q=fractions+secret", teacher)
        .await;
    assert_eq!(ids(both_words.expect(200)), vec!["Secret fractions draft"]);
    let objectives = rest.get("/api/v1/courses?q=quarters", teacher).await;
    assert_eq!(
        ids(objectives.expect(200)),
        vec!["Fractions in the kitchen"]
    );
    let nothing = rest.get("/api/v1/courses?q=%21%3F", teacher).await;
    assert_eq!(ids(nothing.expect(200)), Vec::<String>::new(), "no words");
    let unranked = rest.get("/api/v1/courses?sort=relevance", teacher).await;
    assert_eq!(
        ids(unranked.expect(200)).len(),
        3,
        "relevance without words is the natural order"
    );
    rest.get("/api/v1/courses?q=%20", teacher)
        .await
        .expect_error(422, "q");

    // Filters.
    let grade_4 = rest.get("/api/v1/courses?grade=4", teacher).await;
    assert_eq!(ids(grade_4.expect(200)), vec!["Fractions in the kitchen"]);
    let science_only = rest.get("/api/v1/courses?subject=SCIENCE", teacher).await;
    assert_eq!(ids(science_only.expect(200)), vec!["Volcanoes"]);
    let advanced = rest
        .get("/api/v1/courses?difficulty=advanced", teacher)
        .await;
    assert_eq!(ids(advanced.expect(200)), vec!["Volcanoes"]);
    let tagged = rest.get("/api/v1/courses?tag=Food", teacher).await;
    assert_eq!(ids(tagged.expect(200)), vec!["Fractions in the kitchen"]);
    rest.get("/api/v1/courses?grade=14", teacher)
        .await
        .expect_error(422, "grade");

    // Lessons: search their content's text across courses, filter, sort and page.
    let lesson_titles = [
        "Halving a pizza",
        "Quarter cups",
        "Lava flows",
        "Baking thirds",
    ];
    let mut lessons = Vec::new();
    for (index, title) in lesson_titles.iter().enumerate() {
        let in_course = if *title == "Lava flows" {
            &science
        } else {
            &course_id
        };
        let body = json!({"title": title, "published": true,
            "content": {"steps": [{"text": format!("Step {index}: measure the ingredients")}]},
            "duration_minutes": 10 * (4 - index as i64), "tags": [if index % 2 == 0 { "even" } else { "odd" }]});
        let lesson = rest
            .post(
                &format!("/api/v1/courses/{in_course}/lessons"),
                teacher,
                body,
            )
            .await;
        lessons.push(lesson.expect(201)["id"].as_str().expect("id").to_owned());
    }
    // Lessons without their own grade band or subject are found by their course's.
    let grade_4 = rest
        .get("/api/v1/lessons?grade=4&sort=title", teacher)
        .await;
    assert_eq!(
        ids(grade_4.expect(200)),
        vec!["Baking thirds", "Halving a pizza", "Quarter cups"]
    );
    let science_lessons = rest.get("/api/v1/lessons?subject=science", teacher).await;
    assert_eq!(ids(science_lessons.expect(200)), vec!["Lava flows"]);
    let by_content = rest.get("/api/v1/lessons?q=ingredient", teacher).await;
    assert_eq!(ids(by_content.expect(200)).len(), 4);
    let in_course = rest
        .get(
            &format!("/api/v1/lessons?q=ingredients&course_id={science}"),
            teacher,
        )
        .await;
    assert_eq!(ids(in_course.expect(200)), vec!["Lava flows"]);
    // Relevance: a title match outranks a match in the content only.
    rest.patch(
        &format!("/api/v1/lessons/{}", lessons[1]),
        teacher,
        json!({"content": {"steps": [{"text": "Use a pizza cutter"}]}}),
    )
    .await
    .expect(200);
    let ranked = rest.get("/api/v1/lessons?q=pizza", teacher).await;
    assert_eq!(
        ids(ranked.expect(200)),
        vec!["Halving a pizza", "Quarter cups"]
    );
    let odd = rest
        .get(
            &format!("/api/v1/courses/{course_id}/lessons?tag=odd"),
            teacher,
        )
        .await;
    assert_eq!(ids(odd.expect(200)), vec!["Quarter cups", "Baking thirds"]);

    // Every sort pages through everything once, in order.
    for (sort, expected) in [
        (
            "title",
            vec![
                "Baking thirds",
                "Halving a pizza",
                "Lava flows",
                "Quarter cups",
            ],
        ),
        (
            "duration",
            vec![
                "Baking thirds",
                "Lava flows",
                "Quarter cups",
                "Halving a pizza",
            ],
        ),
    ] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = rest
                .get(
                    &format!("/api/v1/lessons?sort={sort}&limit=1&cursor={cursor}"),
                    teacher,
                )
                .await;
            let page = page.expect(200).clone();
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, expected, "sort={sort}");
    }
    let newest = rest
        .get("/api/v1/lessons?sort=updated&limit=1", teacher)
        .await;
    assert_eq!(ids(newest.expect(200)), vec!["Quarter cups"]);

    // Revisions: every change keeps what it replaced; restoring is itself a change.
    let lesson = &lessons[0];
    let path = format!("/api/v1/lessons/{lesson}");
    for title in [
        "Pizza halves",
        "Pizza halves II",
        "Pizza halves III",
        "Pizza halves IV",
    ] {
        rest.patch(&path, teacher, json!({"title": title}))
            .await
            .expect(200);
    }
    let revisions = rest.get(&format!("{path}/revisions"), teacher).await;
    let revisions = revisions.expect(200).clone();
    // Four changes, three kept (the limit): the oldest version is gone.
    assert_eq!(
        ids(&revisions),
        vec!["Pizza halves III", "Pizza halves II", "Pizza halves"]
    );
    assert_eq!(revisions["items"][0]["revision"], 4);
    assert_eq!(
        revisions["items"][0]["replaced_by"].as_str(),
        Some(school.id("t1").as_str())
    );
    let first_kept = rest.get(&format!("{path}/revisions/2"), teacher).await;
    assert_eq!(first_kept.expect(200)["title"], "Pizza halves");
    assert_eq!(
        rest.get(&format!("{path}/revisions/1"), teacher)
            .await
            .status,
        404,
        "dropped past the limit"
    );
    let restored = rest
        .post(&format!("{path}/revisions/2/restore"), teacher, json!({}))
        .await;
    let restored = restored.expect(200).clone();
    assert_eq!(restored["title"], "Pizza halves");
    assert_eq!(restored["published"], true, "publishing is not a revision");
    let after = rest
        .get(&format!("{path}/revisions?limit=1"), teacher)
        .await;
    assert_eq!(ids(after.expect(200)), vec!["Pizza halves IV"], "undoable");
    // The search index follows the restore.
    let found = rest.get("/api/v1/lessons?q=halves", teacher).await;
    assert_eq!(ids(found.expect(200)), vec!["Pizza halves"]);
    let gone = rest.get("/api/v1/lessons?q=IV", teacher).await;
    assert_eq!(ids(gone.expect(200)), Vec::<String>::new());
    // Students do not read revisions; another educator reads but cannot restore.
    rest.get(&format!("{path}/revisions"), &school.student)
        .await
        .expect_error(403, "earlier versions");
    rest.get(&format!("{path}/revisions"), &school.other_teacher)
        .await
        .expect(200);
    rest.post(
        &format!("{path}/revisions/3/restore"),
        &school.other_teacher,
        json!({}),
    )
    .await
    .expect_error(403, "only the educator who created course");
    rest.post(&format!("{path}/revisions/99/restore"), teacher, json!({}))
        .await
        .expect_error(404, "revision");

    // A class's grade level.
    let class = rest
        .post(
            "/api/v1/classes",
            teacher,
            json!({"name": "Room 5", "grade_level": "5"}),
        )
        .await;
    let class = class.expect(201).clone();
    assert_eq!(class["grade_level"], "5");
    let changed = rest
        .patch(
            &format!("/api/v1/classes/{}", class["id"].as_str().expect("id")),
            teacher,
            json!({"grade_level": "K"}),
        )
        .await;
    assert_eq!(changed.expect(200)["grade_level"], "K");
}
