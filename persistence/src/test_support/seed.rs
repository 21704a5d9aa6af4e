//! [`ClassSeed`]: a class with its teacher and roster, written through the product's own
//! [`Store`] methods: the state most Roblox and SDK tests start from. Roster entries get random
//! personal link codes, which tests read over REST as a teacher or student would.

use std::hash::{BuildHasher, RandomState};

use crate::error::StoreError;
use crate::store::Store;

/// A class to create, with the users it needs.
#[derive(Debug, Clone, Copy)]
pub struct ClassSeed<'a> {
    /// The tenant (created if new).
    pub tenant: &'a str,
    /// The class id.
    pub id: &'a str,
    /// The class name.
    pub name: &'a str,
    /// The class code game servers link with.
    pub code: &'a str,
    /// The teacher's user id and display name (an educator, created).
    pub teacher: (&'a str, &'a str),
    /// The students' user ids and display names (created, and put on the roster).
    pub students: &'a [(&'a str, &'a str)],
}

impl ClassSeed<'_> {
    /// Creates the users (an id already taken is left as it is), the class and its roster.
    pub async fn write(&self, store: &Store) -> Result<(), StoreError> {
        let (teacher, teacher_name) = self.teacher;
        store
            .create_user(self.tenant, teacher, "educator", Some(teacher_name))
            .await?;
        for (student, student_name) in self.students {
            store
                .create_user(self.tenant, student, "student", Some(student_name))
                .await?;
        }
        store
            .create_class(self.tenant, self.id, self.name, Some(teacher), self.code)
            .await?;
        for (student, _) in self.students {
            // A code drawn twice in one class is drawn again.
            let mut attempt = 1;
            while let Err(error) = store
                .add_to_roster(self.tenant, self.id, student, &random_link_code())
                .await
            {
                if !error.is_unique_violation() || attempt == 5 {
                    return Err(error);
                }
                attempt += 1;
            }
        }
        Ok(())
    }
}

/// A random personal link code (of the product's alphabet), from the standard library's
/// randomly keyed hasher: enough for tests, which need codes no one can predict, not a CSPRNG.
fn random_link_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bits = RandomState::new().hash_one(0_u8);
    (0..6)
        .map(|_| {
            let character = ALPHABET[(bits % ALPHABET.len() as u64) as usize];
            bits /= ALPHABET.len() as u64;
            char::from(character)
        })
        .collect()
}
