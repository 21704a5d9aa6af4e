//! Linking a Roblox player to a roster student needs two codes: the class code (shared by the
//! whole class) and the student's personal link code (one per roster entry, shown to the
//! student and their teacher). The player types both in game and the SDK sends them; a link
//! is made only when both name one roster entry. This module owns the codes' shape: the
//! alphabet (no look-alikes), how a typed code is normalized, how a new personal code is made,
//! and how a typed one is checked before any database look-up.

use rand::Rng;

/// The characters of class codes and personal link codes: upper-case letters and digits
/// without look-alikes (no 0/O, 1/I/L), easy to read off a screen and type in a game.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Characters in a personal link code: 31⁶ ≈ 887 million codes, so at the default 5 link
/// attempts a minute per player, guessing any code of a 30-student class takes about 11 years.
pub const STUDENT_CODE_LEN: usize = 6;

/// Why a typed personal link code cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StudentCodeError {
    /// Nothing was typed.
    #[error(
        "is missing; ask the student for the personal link code their teacher shows beside \
         their name on the class roster"
    )]
    Missing,
    /// Not [`STUDENT_CODE_LEN`] characters of [`CODE_ALPHABET`].
    #[error(
        "is not a personal link code (6 letters and digits, without 0, O, 1, I or L); check \
         what the student typed"
    )]
    Malformed,
}

/// Normalizes a typed code: surrounding space, inner spaces and dashes dropped,
/// upper case (codes are shown upper case, players type them however they like).
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|character| !character.is_whitespace() && *character != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// A new random code of `len` characters of [`CODE_ALPHABET`] (from the thread's CSPRNG).
pub fn new_code(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// A new personal link code.
pub fn new_student_code() -> String {
    new_code(STUDENT_CODE_LEN)
}

/// Reads a typed personal link code: normalized ([`normalize_code`]) and of the right shape,
/// so that only a code that could exist reaches the database.
pub fn read_student_code(typed: Option<&str>) -> Result<String, StudentCodeError> {
    let code = normalize_code(typed.unwrap_or_default());
    if code.is_empty() {
        return Err(StudentCodeError::Missing);
    }
    let shaped = code.len() == STUDENT_CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b));
    if shaped {
        Ok(code)
    } else {
        Err(StudentCodeError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalized() {
        assert_eq!(normalize_code(" mat-h 42 "), "MATH42");
        assert_eq!(normalize_code("MATH42"), "MATH42");
    }

    #[test]
    fn new_codes_use_the_alphabet_and_differ() {
        let first = new_student_code();
        assert_eq!(first.len(), STUDENT_CODE_LEN);
        assert!(!first.contains(['0', 'O', '1', 'I', 'L']), "{first}");
        assert_eq!(read_student_code(Some(&first)), Ok(first.clone()));
        let others: Vec<String> = (0..20).map(|_| new_student_code()).collect();
        assert!(others.iter().any(|other| *other != first), "{others:?}");
    }

    fn check(typed: Option<&str>, expected: Result<&str, StudentCodeError>) {
        assert_eq!(
            read_student_code(typed),
            expected.map(str::to_owned),
            "{typed:?}"
        );
    }

    #[test]
    fn typed_student_codes_are_read_or_refused_with_why() {
        check(Some("K7PQ2M"), Ok("K7PQ2M"));
        check(Some(" k7p-q2m "), Ok("K7PQ2M"));
        check(None, Err(StudentCodeError::Missing));
        check(Some(""), Err(StudentCodeError::Missing));
        check(Some(" - "), Err(StudentCodeError::Missing));
        check(Some("K7PQ2"), Err(StudentCodeError::Malformed));
        check(Some("K7PQ2MM"), Err(StudentCodeError::Malformed));
        check(Some("K0PQ2M"), Err(StudentCodeError::Malformed));
        check(Some("KÉPQ2M"), Err(StudentCodeError::Malformed));
        check(Some("K7PQ2M\0"), Err(StudentCodeError::Malformed));
    }
}
