//! Linking a Roblox player to a roster student: the player types the class code in game, and
//! the SDK sends it with the player's names (and, after the player picked one, a student id).
//! These rules say which student that is, or which students to offer.

use crate::wire::Candidate;

/// What a link request resolves to on a class roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkChoice {
    /// Exactly this student.
    Student(Candidate),
    /// The player must pick among these (several names matched, or none did).
    Choose(Vec<Candidate>),
    /// The student id given is not on the roster.
    NotOnRoster,
}

/// Normalizes a typed class code: surrounding space, inner spaces and dashes dropped,
/// upper case (codes are shown upper case, players type them however they like).
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|character| !character.is_whitespace() && *character != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// Chooses the student: by `student_id` when given, otherwise by a roster display name equal
/// (ignoring case and spacing) to one of the player's `names`.
pub fn choose(roster: &[Candidate], student_id: Option<&str>, names: &[&str]) -> LinkChoice {
    if let Some(student_id) = student_id {
        return roster
            .iter()
            .find(|candidate| candidate.student_id == student_id)
            .cloned()
            .map_or(LinkChoice::NotOnRoster, LinkChoice::Student);
    }
    let wanted: Vec<String> = names
        .iter()
        .map(|name| normalize_name(name))
        .filter(|name| !name.is_empty())
        .collect();
    let matches: Vec<Candidate> = roster
        .iter()
        .filter(|candidate| {
            candidate
                .display_name
                .as_deref()
                .is_some_and(|name| wanted.contains(&normalize_name(name)))
        })
        .cloned()
        .collect();
    match matches.len() {
        1 => LinkChoice::Student(matches.into_iter().next().expect("one match")),
        0 => LinkChoice::Choose(roster.to_vec()),
        _ => LinkChoice::Choose(matches),
    }
}

fn normalize_name(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster() -> Vec<Candidate> {
        [
            ("s1", Some("Ada Lovelace")),
            ("s2", Some("Bo")),
            ("s3", Some("bo")),
            ("s4", None),
        ]
        .into_iter()
        .map(|(id, name)| Candidate {
            student_id: id.into(),
            display_name: name.map(Into::into),
        })
        .collect()
    }

    fn ids(choice: &LinkChoice) -> Vec<&str> {
        match choice {
            LinkChoice::Student(student) => vec![student.student_id.as_str()],
            LinkChoice::Choose(candidates) => candidates
                .iter()
                .map(|candidate| candidate.student_id.as_str())
                .collect(),
            LinkChoice::NotOnRoster => vec![],
        }
    }

    #[test]
    fn codes_are_normalized() {
        assert_eq!(normalize_code(" mat-h 42 "), "MATH42");
        assert_eq!(normalize_code("MATH42"), "MATH42");
    }

    #[test]
    fn a_student_is_chosen_by_id_or_by_one_matching_name() {
        let roster = roster();
        let by_id = choose(&roster, Some("s2"), &["whatever"]);
        assert!(matches!(by_id, LinkChoice::Student(_)));
        assert_eq!(ids(&by_id), ["s2"]);
        assert_eq!(choose(&roster, Some("s9"), &[]), LinkChoice::NotOnRoster);
        let by_name = choose(&roster, None, &["builderman", "  ada   LOVELACE "]);
        assert!(matches!(by_name, LinkChoice::Student(_)));
        assert_eq!(ids(&by_name), ["s1"]);
    }

    #[test]
    fn ambiguous_or_unknown_names_offer_a_choice() {
        let roster = roster();
        let twins = choose(&roster, None, &["BO"]);
        assert!(matches!(twins, LinkChoice::Choose(_)));
        assert_eq!(ids(&twins), ["s2", "s3"]);
        let nobody = choose(&roster, None, &["builderman"]);
        assert_eq!(ids(&nobody), ["s1", "s2", "s3", "s4"]);
        assert_eq!(ids(&choose(&roster, None, &[""])), ["s1", "s2", "s3", "s4"]);
    }
}
