//! Analytics: a class dashboard (completion distribution, time on task, quiz averages, the
//! most-missed questions, per-student rows), course analytics (per lesson), and a CSV export of
//! the class report. Computed from `student_progress` and `assessment_results` on each request.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use persistence::{AssessmentRecord, Page, ProgressRecord, ResultRecord, UserRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::classes::{Access, all_roster, load_class};
use crate::api::openapi::ErrorResponse;
use crate::api::{ApiError, ApiPath, ApiQuery, Caller};
use crate::app::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(class_dashboard))
        .routes(routes!(class_report_csv))
        .routes(routes!(course_analytics))
}

/// Class analytics filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ClassFilter {
    /// Only this course (completion is then measured against all its lessons).
    course_id: Option<String>,
}

/// Students per completion band.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Distribution {
    /// 0–24 %.
    pub band_0_24: u64,
    /// 25–49 %.
    pub band_25_49: u64,
    /// 50–74 %.
    pub band_50_74: u64,
    /// 75–99 %.
    pub band_75_99: u64,
    /// 100 %.
    pub complete: u64,
}

impl Distribution {
    fn add(&mut self, percent: f64) {
        match percent {
            p if p >= 100.0 => self.complete += 1,
            p if p >= 75.0 => self.band_75_99 += 1,
            p if p >= 50.0 => self.band_50_74 += 1,
            p if p >= 25.0 => self.band_25_49 += 1,
            _ => self.band_0_24 += 1,
        }
    }
}

/// One student's line of a class report.
#[derive(Debug, Serialize, ToSchema)]
pub struct StudentLine {
    /// Student id.
    pub user_id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Lessons with any progress.
    pub lessons_started: u64,
    /// Lessons at 100 %.
    pub lessons_completed: u64,
    /// Completion, 0–100 (over the course's lessons when filtered, else over started lessons).
    pub completion: f64,
    /// Time on task.
    pub time_spent_secs: i64,
    /// Assessment submissions.
    pub quizzes_taken: u64,
    /// Mean score of those, percent; `null` without submissions.
    pub quiz_average: Option<f64>,
}

/// One assessment's average.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuizAverage {
    /// Assessment id.
    pub assessment_id: String,
    /// Its title.
    pub title: String,
    /// Submissions.
    pub attempts: u64,
    /// Mean score, percent.
    pub average_percent: f64,
}

/// A question many got wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct MissedQuestion {
    /// Assessment id.
    pub assessment_id: String,
    /// Question id.
    pub question_id: String,
    /// The question's prompt.
    pub prompt: String,
    /// Wrong answers.
    pub misses: u64,
    /// Answers (right or wrong).
    pub attempts: u64,
}

/// The class dashboard.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassDashboard {
    /// Class id.
    pub class_id: String,
    /// The course filter, if any.
    pub course_id: Option<String>,
    /// Students on the roster.
    pub students: u64,
    /// Students per completion band.
    pub completion_distribution: Distribution,
    /// Mean completion over students, percent.
    pub average_completion: f64,
    /// Time on task, all students.
    pub total_time_spent_secs: i64,
    /// Time on task per student, on average.
    pub average_time_spent_secs: f64,
    /// Per assessment.
    pub quiz_averages: Vec<QuizAverage>,
    /// The ten most-missed questions.
    pub most_missed_questions: Vec<MissedQuestion>,
    /// One line per student.
    pub per_student: Vec<StudentLine>,
}

/// One lesson's line of course analytics.
#[derive(Debug, Serialize, ToSchema)]
pub struct LessonLine {
    /// Lesson id.
    pub lesson_id: String,
    /// Title.
    pub title: String,
    /// Students with any progress.
    pub students_started: u64,
    /// Students at 100 %.
    pub students_completed: u64,
    /// Mean completion of those who started, percent.
    pub average_completion: f64,
    /// Mean time of those who started.
    pub average_time_spent_secs: f64,
}

/// Course analytics.
#[derive(Debug, Serialize, ToSchema)]
pub struct CourseAnalytics {
    /// Course id.
    pub course_id: String,
    /// Students with any progress in the course.
    pub students: u64,
    /// Students per completion band (over the course's lessons).
    pub completion_distribution: Distribution,
    /// Time on task, all students.
    pub total_time_spent_secs: i64,
    /// Per lesson, in course order.
    pub lessons: Vec<LessonLine>,
    /// Per assessment.
    pub quiz_averages: Vec<QuizAverage>,
    /// The ten most-missed questions.
    pub most_missed_questions: Vec<MissedQuestion>,
}

fn percent(result: &ResultRecord) -> Option<f64> {
    match (result.score, result.max_score) {
        (Some(score), Some(max)) if max > 0.0 => Some(score / max * 100.0),
        _ => None,
    }
}

async fn assessments_by_id(
    app: &AppState,
    tenant: &str,
    results: &[ResultRecord],
) -> Result<HashMap<String, AssessmentRecord>, ApiError> {
    let mut found = HashMap::new();
    for result in results {
        if found.contains_key(&result.assessment_id) {
            continue;
        }
        if let Some(assessment) = app
            .store()
            .assessment(tenant, &result.assessment_id)
            .await?
        {
            found.insert(assessment.id.clone(), assessment);
        }
    }
    Ok(found)
}

fn quiz_stats(
    results: &[ResultRecord],
    assessments: &HashMap<String, AssessmentRecord>,
) -> (Vec<QuizAverage>, Vec<MissedQuestion>) {
    let mut averages: BTreeMap<&str, (u64, f64, u64)> = BTreeMap::new();
    let mut missed: BTreeMap<(&str, String), (u64, u64)> = BTreeMap::new();
    for result in results {
        let entry = averages.entry(result.assessment_id.as_str()).or_default();
        entry.0 += 1;
        if let Some(percent) = percent(result) {
            entry.1 += percent;
            entry.2 += 1;
        }
        let graded = result
            .answers
            .as_ref()
            .and_then(|answers| answers["graded"].as_array().cloned())
            .unwrap_or_default();
        for grade in graded {
            let Some(correct) = grade["correct"].as_bool() else {
                continue;
            };
            let question = grade["question"].as_str().unwrap_or_default().to_owned();
            let counts = missed
                .entry((result.assessment_id.as_str(), question))
                .or_default();
            counts.1 += 1;
            if !correct {
                counts.0 += 1;
            }
        }
    }
    let quiz_averages = averages
        .into_iter()
        .map(|(id, (attempts, sum, scored))| QuizAverage {
            assessment_id: id.to_owned(),
            title: assessments
                .get(id)
                .map(|a| a.title.clone())
                .unwrap_or_default(),
            attempts,
            average_percent: if scored == 0 {
                0.0
            } else {
                sum / scored as f64
            },
        })
        .collect();
    let mut most_missed: Vec<MissedQuestion> = missed
        .into_iter()
        .filter(|(_, (misses, _))| *misses > 0)
        .map(|((assessment_id, question_id), (misses, attempts))| {
            let prompt = assessments
                .get(assessment_id)
                .and_then(|a| a.questions.as_array())
                .and_then(|questions| questions.iter().find(|q| q["id"] == question_id.as_str()))
                .and_then(|q| q["prompt"].as_str())
                .unwrap_or_default()
                .to_owned();
            MissedQuestion {
                assessment_id: assessment_id.to_owned(),
                question_id,
                prompt,
                misses,
                attempts,
            }
        })
        .collect();
    most_missed.sort_by(|a, b| {
        b.misses
            .cmp(&a.misses)
            .then(a.question_id.cmp(&b.question_id))
    });
    most_missed.truncate(10);
    (quiz_averages, most_missed)
}

async fn lesson_count(app: &AppState, tenant: &str, course: &str) -> Result<usize, ApiError> {
    let all = Page {
        limit: 10_000,
        after: None,
    };
    Ok(app
        .store()
        .lessons(tenant, course, false, &all)
        .await?
        .items
        .len())
}

async fn build_dashboard(
    app: &AppState,
    caller: &Caller,
    class_id: &str,
    course: Option<&str>,
) -> Result<ClassDashboard, ApiError> {
    load_class(app, caller, class_id, Access::Manage).await?;
    let tenant = caller.tenant();
    let roster: Vec<UserRecord> = all_roster(app, tenant, class_id)
        .await?
        .into_iter()
        .map(|member| member.user)
        .collect();
    let progress = app
        .store()
        .all_progress_of_class(tenant, class_id, course)
        .await?;
    let results = app.store().results_of_class(tenant, class_id).await?;
    let assessments = assessments_by_id(app, tenant, &results).await?;
    let lessons_in_course = match course {
        Some(course) => Some(lesson_count(app, tenant, course).await?),
        None => None,
    };
    let mut by_student: HashMap<&str, Vec<&ProgressRecord>> = HashMap::new();
    for row in &progress {
        by_student
            .entry(row.user_id.as_str())
            .or_default()
            .push(row);
    }
    let mut quizzes: HashMap<&str, (u64, f64, u64)> = HashMap::new();
    for result in &results {
        let entry = quizzes.entry(result.user_id.as_str()).or_default();
        entry.0 += 1;
        if let Some(percent) = percent(result) {
            entry.1 += percent;
            entry.2 += 1;
        }
    }
    let mut distribution = Distribution::default();
    let mut per_student = Vec::new();
    for student in &roster {
        let rows = by_student
            .get(student.id.as_str())
            .cloned()
            .unwrap_or_default();
        let sum: f64 = rows.iter().map(|row| row.completion_percent).sum();
        let denominator = lessons_in_course.unwrap_or(rows.len());
        let completion = if denominator == 0 {
            0.0
        } else {
            sum / denominator as f64
        };
        distribution.add(completion);
        let (taken, quiz_sum, scored) = quizzes
            .get(student.id.as_str())
            .copied()
            .unwrap_or_default();
        per_student.push(StudentLine {
            user_id: student.id.clone(),
            display_name: student.display_name.clone(),
            lessons_started: rows.len() as u64,
            lessons_completed: rows
                .iter()
                .filter(|row| row.completion_percent >= 100.0)
                .count() as u64,
            completion,
            time_spent_secs: rows.iter().map(|row| row.time_spent_secs).sum(),
            quizzes_taken: taken,
            quiz_average: (scored > 0).then(|| quiz_sum / scored as f64),
        });
    }
    let (quiz_averages, most_missed_questions) = quiz_stats(&results, &assessments);
    let students = per_student.len() as u64;
    let total_time: i64 = per_student.iter().map(|line| line.time_spent_secs).sum();
    Ok(ClassDashboard {
        class_id: class_id.to_owned(),
        course_id: course.map(str::to_owned),
        students,
        average_completion: if students == 0 {
            0.0
        } else {
            per_student.iter().map(|line| line.completion).sum::<f64>() / students as f64
        },
        completion_distribution: distribution,
        total_time_spent_secs: total_time,
        average_time_spent_secs: if students == 0 {
            0.0
        } else {
            total_time as f64 / students as f64
        },
        quiz_averages,
        most_missed_questions,
        per_student,
    })
}

/// The class dashboard (its teacher, admins).
#[utoipa::path(get, path = "/api/v1/analytics/classes/{id}", tag = "analytics",
    params(("id" = String, Path, description = "class id"), ClassFilter),
    responses((status = 200, body = ClassDashboard),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn class_dashboard(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(filter): ApiQuery<ClassFilter>,
) -> Result<Json<ClassDashboard>, ApiError> {
    let course = filter
        .course_id
        .as_deref()
        .filter(|course| !course.is_empty());
    build_dashboard(&app, &caller, &id, course).await.map(Json)
}

/// Quotes a CSV field when it needs it, and defuses spreadsheet formulas.
pub(crate) fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// The class report as CSV, one line per student (its teacher, admins).
#[utoipa::path(get, path = "/api/v1/analytics/classes/{id}/report.csv", tag = "analytics",
    params(("id" = String, Path, description = "class id"), ClassFilter),
    responses((status = 200, description = "CSV, one line per student", content_type = "text/csv", body = String),
              (status = 403, body = ErrorResponse),
              (status = 404, body = ErrorResponse)))]
async fn class_report_csv(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(filter): ApiQuery<ClassFilter>,
) -> Result<Response, ApiError> {
    let course = filter
        .course_id
        .as_deref()
        .filter(|course| !course.is_empty());
    let dashboard = build_dashboard(&app, &caller, &id, course).await?;
    let mut csv = String::from(
        "student_id,display_name,lessons_started,lessons_completed,completion_percent,time_spent_secs,quizzes_taken,quiz_average_percent\r\n",
    );
    for line in &dashboard.per_student {
        csv.push_str(&format!(
            "{},{},{},{},{:.1},{},{},{}\r\n",
            csv_field(&line.user_id),
            csv_field(line.display_name.as_deref().unwrap_or_default()),
            line.lessons_started,
            line.lessons_completed,
            line.completion,
            line.time_spent_secs,
            line.quizzes_taken,
            line.quiz_average
                .map(|avg| format!("{avg:.1}"))
                .unwrap_or_default(),
        ));
    }
    let disposition = format!(
        "attachment; filename=\"class-{}-report.csv\"",
        id.replace('"', "")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
        .into_response())
}

/// Course analytics (educators, admins).
#[utoipa::path(get, path = "/api/v1/analytics/courses/{id}", tag = "analytics",
    params(("id" = String, Path, description = "course id")),
    responses((status = 200, body = CourseAnalytics),
              (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
async fn course_analytics(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CourseAnalytics>, ApiError> {
    caller.require_staff("see course analytics")?;
    let tenant = caller.tenant();
    let store = app.store();
    store
        .course(tenant, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("course"))?;
    let lessons = store
        .lessons(
            tenant,
            &id,
            false,
            &Page {
                limit: 10_000,
                after: None,
            },
        )
        .await?
        .items;
    let progress = store.all_progress_of_course(tenant, &id).await?;
    let results = store.results_of_course(tenant, &id).await?;
    let assessments = assessments_by_id(&app, tenant, &results).await?;
    let mut per_student: BTreeMap<&str, (f64, i64)> = BTreeMap::new();
    let mut per_lesson: HashMap<&str, (u64, u64, f64, i64)> = HashMap::new();
    for row in &progress {
        let student = per_student.entry(row.user_id.as_str()).or_default();
        student.0 += row.completion_percent;
        student.1 += row.time_spent_secs;
        let lesson = per_lesson.entry(row.lesson_id.as_str()).or_default();
        lesson.0 += 1;
        if row.completion_percent >= 100.0 {
            lesson.1 += 1;
        }
        lesson.2 += row.completion_percent;
        lesson.3 += row.time_spent_secs;
    }
    let mut distribution = Distribution::default();
    for (sum, _) in per_student.values() {
        distribution.add(if lessons.is_empty() {
            0.0
        } else {
            sum / lessons.len() as f64
        });
    }
    let lesson_lines = lessons
        .iter()
        .map(|lesson| {
            let (started, completed, sum, time) = per_lesson
                .get(lesson.id.as_str())
                .copied()
                .unwrap_or_default();
            LessonLine {
                lesson_id: lesson.id.clone(),
                title: lesson.title.clone(),
                students_started: started,
                students_completed: completed,
                average_completion: if started == 0 {
                    0.0
                } else {
                    sum / started as f64
                },
                average_time_spent_secs: if started == 0 {
                    0.0
                } else {
                    time as f64 / started as f64
                },
            }
        })
        .collect();
    let (quiz_averages, most_missed_questions) = quiz_stats(&results, &assessments);
    Ok(Json(CourseAnalytics {
        course_id: id,
        students: per_student.len() as u64,
        completion_distribution: distribution,
        total_time_spent_secs: per_student.values().map(|(_, time)| time).sum(),
        lessons: lesson_lines,
        quiz_averages,
        most_missed_questions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("Ada"), "Ada");
        assert_eq!(csv_field("Lovelace, Ada"), "\"Lovelace, Ada\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }
}
