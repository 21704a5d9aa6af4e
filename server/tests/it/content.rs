//! Courses, lessons and assessments over REST (publish, order, answers hidden from students,
//! server-side multiple-choice scoring), and progress and analytics built from progress events
//! and results, including the CSV report.

use persistence::test_support::TestDatabase;
use serde_json::{Value, json};

use crate::classes::School;
use crate::rest::Rest;
use crate::support::{Client, TestServer, start_with};

fn questions() -> Value {
    json!([
        {"id": "q1", "type": "multiple_choice", "prompt": "2+2?", "choices": ["3", "4"], "answer": 1},
        {"id": "q2", "type": "multiple_choice", "prompt": "3*3?", "choices": ["6", "9", "12"], "answer": 1, "points": 2},
        {"id": "q3", "type": "free_text", "prompt": "Explain."}
    ])
}

#[tokio::test]
async fn content_progress_and_analytics() {
    for db in TestDatabase::all().await {
        let url = Some(db.url().to_owned());
        let test = start_with(move |config| config.database_url = url).await;
        content_progress_and_analytics_on(&test).await;
        test.server.shutdown().await;
    }
}

async fn content_progress_and_analytics_on(test: &TestServer) {
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "cnt").await;
    let class_id = school.class_with_s1(&rest).await;

    // Courses: staff create; students see only published ones.
    let course = rest
        .post(
            "/api/v1/courses",
            &school.teacher,
            json!({"title": "Fractions", "grade_level": "5"}),
        )
        .await;
    let course_id = course.expect(201)["id"].as_str().expect("id").to_owned();
    let by_student = rest
        .post("/api/v1/courses", &school.student, json!({"title": "x"}))
        .await;
    assert_eq!(by_student.status, 403);
    let untitled = rest
        .post("/api/v1/courses", &school.teacher, json!({}))
        .await;
    assert_eq!(untitled.status, 422);
    let hidden = rest
        .get(&format!("/api/v1/courses/{course_id}"), &school.student)
        .await;
    assert_eq!(
        hidden.status, 404,
        "unpublished courses do not exist for students"
    );
    assert_eq!(
        rest.get("/api/v1/courses", &school.student)
            .await
            .expect(200)["items"],
        json!([])
    );

    // Lessons: appended in order, reordered, published.
    let mut lesson_ids = Vec::new();
    for title in ["Halves", "Thirds", "Quarters"] {
        let lesson = rest
            .post(
                &format!("/api/v1/courses/{course_id}/lessons"),
                &school.teacher,
                json!({"title": title, "content": {"scene": title}}),
            )
            .await;
        lesson_ids.push(lesson.expect(201)["id"].as_str().expect("id").to_owned());
    }
    let bad_order = rest
        .call(
            "PUT",
            &format!("/api/v1/courses/{course_id}/lessons/order"),
            Some(&school.teacher),
            Some(json!({"lesson_ids": [lesson_ids[0]]})),
        )
        .await;
    assert_eq!(bad_order.status, 422);
    let reordered = rest
        .call(
            "PUT",
            &format!("/api/v1/courses/{course_id}/lessons/order"),
            Some(&school.teacher),
            Some(json!({"lesson_ids": [lesson_ids[2], lesson_ids[0], lesson_ids[1]]})),
        )
        .await;
    let titles: Vec<&str> = reordered.expect(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|lesson| lesson["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles, ["Quarters", "Halves", "Thirds"]);
    let page = rest
        .get(
            &format!("/api/v1/courses/{course_id}/lessons?limit=2"),
            &school.teacher,
        )
        .await;
    let cursor = page.expect(200)["next_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let rest_of = rest
        .get(
            &format!("/api/v1/courses/{course_id}/lessons?limit=2&cursor={cursor}"),
            &school.teacher,
        )
        .await;
    assert_eq!(rest_of.expect(200)["items"][0]["title"], "Thirds");
    rest.post(
        &format!("/api/v1/courses/{course_id}/publish"),
        &school.teacher,
        json!({}),
    )
    .await
    .expect(200);
    rest.post(
        &format!("/api/v1/lessons/{}/publish", lesson_ids[0]),
        &school.teacher,
        json!({}),
    )
    .await
    .expect(200);
    let visible = rest
        .get(
            &format!("/api/v1/courses/{course_id}/lessons"),
            &school.student,
        )
        .await;
    assert_eq!(
        visible.expect(200)["items"]
            .as_array()
            .expect("items")
            .len(),
        1
    );
    let unpublished = rest
        .get(
            &format!("/api/v1/lessons/{}", lesson_ids[1]),
            &school.student,
        )
        .await;
    assert_eq!(unpublished.status, 404);

    // Assessments: questions validated; students see no answers; scoring on the server.
    let invalid = rest
        .post(
            "/api/v1/assessments",
            &school.teacher,
            json!({"title": "Quiz", "lesson_id": lesson_ids[0], "questions": [{"id": "q1", "type": "multiple_choice", "prompt": "?", "choices": ["a", "b"], "answer": 7}]}),
        )
        .await;
    assert_eq!(invalid.status, 422);
    assert!(
        invalid.body["error"]["fields"]["questions[0].answer"].is_string(),
        "{}",
        invalid.body
    );
    let assessment = rest
        .post(
            "/api/v1/assessments",
            &school.teacher,
            json!({"title": "Quiz 1", "lesson_id": lesson_ids[0], "questions": questions()}),
        )
        .await;
    let assessment_id = assessment.expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let seen_by_student = rest
        .get(
            &format!("/api/v1/assessments/{assessment_id}"),
            &school.student,
        )
        .await;
    let seen = seen_by_student.expect(200).clone();
    assert!(seen["questions"][0].get("answer").is_none(), "{seen}");
    let seen_by_teacher = rest
        .get(
            &format!("/api/v1/assessments/{assessment_id}"),
            &school.teacher,
        )
        .await;
    assert_eq!(seen_by_teacher.expect(200)["questions"][0]["answer"], 1);
    let submitted = rest
        .post(
            &format!("/api/v1/assessments/{assessment_id}/results"),
            &school.student,
            json!({"answers": {"q1": 1, "q2": 0, "q3": "because"}}),
        )
        .await;
    let result = submitted.expect(201).clone();
    assert_eq!(
        (result["score"].as_f64(), result["max_score"].as_f64()),
        (Some(1.0), Some(3.0))
    );
    let out_of_range = rest
        .post(
            &format!("/api/v1/assessments/{assessment_id}/results"),
            &school.student,
            json!({"answers": {"q1": 9}}),
        )
        .await;
    assert_eq!(out_of_range.status, 422);
    assert!(out_of_range.body["error"]["fields"]["answers.q1"].is_string());
    let by_teacher = rest
        .post(
            &format!("/api/v1/assessments/{assessment_id}/results"),
            &school.teacher,
            json!({"answers": {}}),
        )
        .await;
    assert_eq!(by_teacher.status, 403);
    let own = rest
        .get(
            &format!("/api/v1/assessments/{assessment_id}/results"),
            &school.other_student,
        )
        .await;
    assert_eq!(
        own.expect(200)["items"],
        json!([]),
        "students see only their own results"
    );
    let all = rest
        .get(
            &format!("/api/v1/assessments/{assessment_id}/results"),
            &school.teacher,
        )
        .await;
    assert_eq!(all.expect(200)["items"].as_array().expect("items").len(), 1);

    // Progress: a durable progress event (acknowledged after its commit) fills student_progress.
    let mut teacher = Client::connect(test.addr, &school.teacher).await;
    let room = format!("class:cnt:{class_id}");
    for (n, (lesson, percent)) in [(&lesson_ids[0], 100), (&lesson_ids[1], 50)]
        .into_iter()
        .enumerate()
    {
        let reference = teacher.next_ref();
        teacher
            .send(json!({"type": "publish", "ref": reference, "room": room, "kind": "progress", "id": format!("p{n}"),
                         "data": {"student": school.id("s1"), "course": course_id, "lesson": lesson, "percent": percent, "time_spent_secs": 60}}))
            .await;
        teacher
            .recv_until(|message| matches!(message, protocol::ServerMessage::Reply(_)))
            .await;
    }
    let mine = rest
        .get(
            &format!("/api/v1/progress/students/{}", school.id("s1")),
            &school.student,
        )
        .await;
    assert_eq!(
        mine.expect(200)["items"].as_array().expect("items").len(),
        2
    );
    let others = rest
        .get(
            &format!("/api/v1/progress/students/{}", school.id("s1")),
            &school.other_student,
        )
        .await;
    assert_eq!(others.status, 403);
    let parent_before = rest
        .get(
            &format!("/api/v1/progress/students/{}", school.id("s1")),
            &school.parent,
        )
        .await;
    assert_eq!(parent_before.status, 403);
    let of_class = rest
        .get(
            &format!("/api/v1/progress/classes/{class_id}"),
            &school.teacher,
        )
        .await;
    assert_eq!(
        of_class.expect(200)["items"]
            .as_array()
            .expect("items")
            .len(),
        2
    );
    let not_theirs = rest
        .get(
            &format!("/api/v1/progress/classes/{class_id}"),
            &school.other_teacher,
        )
        .await;
    assert_eq!(not_theirs.status, 403);
    let of_course = rest
        .get(
            &format!("/api/v1/progress/courses/{course_id}?limit=1"),
            &school.admin,
        )
        .await;
    assert!(of_course.expect(200)["next_cursor"].is_string());
    let student_course = rest
        .get(
            &format!("/api/v1/progress/courses/{course_id}"),
            &school.student,
        )
        .await;
    assert_eq!(student_course.status, 403);

    // Analytics: the class dashboard over the course's three lessons.
    let dashboard = rest
        .get(
            &format!("/api/v1/analytics/classes/{class_id}?course_id={course_id}"),
            &school.teacher,
        )
        .await;
    let dashboard = dashboard.expect(200).clone();
    assert_eq!(dashboard["students"], 1);
    assert_eq!(
        dashboard["completion_distribution"]["band_50_74"], 1,
        "{dashboard}"
    );
    assert_eq!(dashboard["total_time_spent_secs"], 120);
    assert_eq!(dashboard["quiz_averages"][0]["attempts"], 1);
    assert!(
        (dashboard["quiz_averages"][0]["average_percent"]
            .as_f64()
            .expect("avg")
            - 33.33)
            .abs()
            < 0.1
    );
    assert_eq!(dashboard["most_missed_questions"][0]["question_id"], "q2");
    assert_eq!(dashboard["most_missed_questions"][0]["prompt"], "3*3?");
    let denied = rest
        .get(
            &format!("/api/v1/analytics/classes/{class_id}"),
            &school.student,
        )
        .await;
    assert_eq!(denied.status, 403);
    let csv = rest
        .get(
            &format!("/api/v1/analytics/classes/{class_id}/report.csv"),
            &school.teacher,
        )
        .await;
    let text = csv.body.as_str().expect("csv text").to_owned();
    assert_eq!(csv.status, 200);
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .expect("header")
            .starts_with("student_id,display_name")
    );
    let row = lines.next().expect("one student");
    assert!(row.starts_with(&format!("{},", school.id("s1"))), "{row}");
    assert!(row.contains(",2,1,75.0,120,1,33.3"), "{row}");
    let course_view = rest
        .get(
            &format!("/api/v1/analytics/courses/{course_id}"),
            &school.teacher,
        )
        .await;
    let course_view = course_view.expect(200).clone();
    assert_eq!(course_view["lessons"][0]["title"], "Quarters");
    assert_eq!(course_view["lessons"][1]["students_completed"], 1);

    // Deleting the course takes its lessons, assessments and results with it.
    rest.delete(&format!("/api/v1/courses/{course_id}"), &school.teacher)
        .await
        .expect(204);
    let gone = rest
        .get(
            &format!("/api/v1/assessments/{assessment_id}"),
            &school.teacher,
        )
        .await;
    assert_eq!(gone.status, 404);
}

/// A course, its lessons and their assessments are changed only by the educator who created the
/// course or an admin: another educator of the school reads them and gets 403 on every write.
#[tokio::test]
async fn only_a_courses_author_or_an_admin_changes_it() {
    let test = start_with(|_| {}).await;
    let rest = Rest::new(test.addr);
    let school = School::enroll(&rest, "own").await;
    let course = rest
        .post(
            "/api/v1/courses",
            &school.teacher,
            json!({"title": "Decimals"}),
        )
        .await;
    let course_id = course.expect(201)["id"].as_str().expect("id").to_owned();
    let lesson = rest
        .post(
            &format!("/api/v1/courses/{course_id}/lessons"),
            &school.teacher,
            json!({"title": "Tenths", "content": {}}),
        )
        .await;
    let lesson_id = lesson.expect(201)["id"].as_str().expect("id").to_owned();
    let assessment = rest
        .post(
            "/api/v1/assessments",
            &school.teacher,
            json!({"title": "Check", "lesson_id": lesson_id, "questions": questions()}),
        )
        .await;
    let assessment_id = assessment.expect(201)["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let other = &school.other_teacher;
    let course_path = format!("/api/v1/courses/{course_id}");
    let lesson_path = format!("/api/v1/lessons/{lesson_id}");
    let assessment_path = format!("/api/v1/assessments/{assessment_id}");
    rest.get(&course_path, other).await.expect(200);
    rest.get(&lesson_path, other).await.expect(200);
    rest.get(&assessment_path, other).await.expect(200);
    let writes = [
        (
            "PATCH",
            course_path.clone(),
            Some(json!({"title": "Mine now"})),
        ),
        ("POST", format!("{course_path}/publish"), None),
        (
            "POST",
            format!("{course_path}/lessons"),
            Some(json!({"title": "Extra"})),
        ),
        (
            "PUT",
            format!("{course_path}/lessons/order"),
            Some(json!({"lesson_ids": [lesson_id]})),
        ),
        ("PATCH", lesson_path.clone(), Some(json!({"title": "Mine"}))),
        ("POST", format!("{lesson_path}/publish"), None),
        (
            "POST",
            "/api/v1/assessments".to_owned(),
            Some(json!({"title": "Extra", "lesson_id": lesson_id, "questions": questions()})),
        ),
        (
            "PATCH",
            assessment_path.clone(),
            Some(json!({"title": "Mine"})),
        ),
        ("DELETE", assessment_path.clone(), None),
        ("DELETE", lesson_path.clone(), None),
        ("DELETE", course_path.clone(), None),
    ];
    for (method, path, body) in writes {
        rest.call(method, &path, Some(other), body)
            .await
            .expect_error(403, "only the educator who created course");
    }
    let unchanged = rest.get(&course_path, &school.teacher).await;
    assert_eq!(unchanged.expect(200)["title"], "Decimals");
    assert_eq!(unchanged.expect(200)["published"], false);

    // The author and an admin may.
    rest.patch(&lesson_path, &school.teacher, json!({"title": "Tenths!"}))
        .await
        .expect(200);
    rest.patch(&course_path, &school.admin, json!({"title": "Decimals 2"}))
        .await
        .expect(200);
    assert_eq!(rest.delete(&course_path, &school.admin).await.status, 204);
    test.server.shutdown().await;
}
